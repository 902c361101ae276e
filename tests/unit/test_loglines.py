"""Progress and failure reasons read from log lines, on messages the upstream code prints
(docs/upstream.md cites each one)."""

import re

import pytest

from cosmos_core.upstream.loglines import failure_reason, message, progress_text
from cosmos_core.upstream.models import TRANSFER1, TRANSFER25, probe_patterns

WG = "[12-01 10:00:00|INFO|cosmos_transfer1/diffusion/inference/world_generation_pipeline.py:{}:generate] {}"
T25 = "[12-01 10:00:00|INFO|cosmos_transfer2/_src/.../inference_pipeline.py:554:generate] {}"
CHILD_FAILED = "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: "


def test_message_drops_the_log_and_rank_prefixes():
    assert message(WG.format(615, "Starting diffusion sampling")) == "Starting diffusion sampling"
    assert message("[rank0]: RuntimeError: x\n") == "RuntimeError: x"
    assert message("plain") == "plain"


@pytest.mark.parametrize(("line", "stage"), [
    (WG.format(728, "Running guardrail checks on all prompts"), "checking the prompt"),
    (WG.format(745, "Running text embedding on all prompts"), "encoding the prompt"),
    (WG.format(583, "Starting latent encoding"), "encoding the input"),
    (WG.format(615, "Starting diffusion sampling"), "diffusion sampling"),
    (WG.format(639, "Starting VAE decode"), "decoding"),
    (WG.format(788, "Run guardrail on generated videos"), "checking the video"),
    ("[12-01 10:00:00|INFO|cosmos_transfer1/diffusion/inference/transfer.py:412:demo] Saved video to o/output.mp4",
     "saving"),
])  # fmt: skip
def test_transfer1_stages(line, stage):
    assert progress_text(TRANSFER1, line, "") == stage


def test_transfer1_counts_chunks_from_its_bar_over_clips():
    bar = " 50%|#####     | 1/2 [01:40<01:40, 100.00s/it]"
    assert progress_text(TRANSFER1, WG.format(615, "Starting diffusion sampling"), bar) == \
        "diffusion sampling · 1/2 chunks"
    assert progress_text(TRANSFER1, "", "Loading checkpoint shards:  50%|#####     | 2/4") is None


def test_transfer25_shows_the_chunk_and_the_steps():
    stage = T25.format("Generating chunk 2/3")
    bar = "Generating samples:  40%|####      | 14/35 [00:20<00:30,  1.43s/it]"
    assert progress_text(TRANSFER25, stage, bar) == "chunk 2/3 · 14/35 steps"
    assert progress_text(TRANSFER25, "[12-01 10:00:00|INFO|cosmos_transfer2/inference.py:167:generate] "
                         "[1/1] Processing sample output", "") == "loading"


def test_nothing_known_is_no_progress():
    assert progress_text(TRANSFER1, "hello", "world") is None


def test_transfer1_guardrail_block_beats_the_crash_that_follows_it():
    lines = [
        "[12-01 10:00:00|CRITICAL|cosmos_transfer1/auxiliary/guardrail/common/presets.py:55:run_text_guardrail] "
        "GUARDRAIL BLOCKED: BLOCKLIST: Prompt blocked by censorship: Censored Prompt: x",
        WG.format(735, "Input text prompt 1 is not safe"), WG.format(738, "All prompts failed safety checks"),
        "TypeError: cannot unpack non-iterable NoneType object", CHILD_FAILED,
    ]
    assert failure_reason(TRANSFER1, lines) == \
        "blocked by the guardrail: BLOCKLIST: Prompt blocked by censorship: Censored Prompt: x"
    assert failure_reason(TRANSFER1, lines[1:]) == "blocked by the guardrail: All prompts failed safety checks"


def test_transfer1_video_guardrail():
    lines = [WG.format(799, "All generated videos failed safety checks")]
    assert failure_reason(TRANSFER1, lines) == "blocked by the guardrail: All generated videos failed safety checks"


def test_transfer25_guardrail_block_names_the_prompt():
    lines = ["[12-01 10:00:00|CRITICAL|cosmos_transfer2/inference.py:216:generate] "
             "Guardrail blocked generation. Prompt: a forbidden scene"]
    assert failure_reason(TRANSFER25, lines) == "blocked by the guardrail: Prompt: a forbidden scene"
    video = ["Exception: Guardrail blocked video2world generation."]
    assert failure_reason(TRANSFER25, video) == "blocked by the guardrail: Guardrail blocked video2world generation"


def test_cuda_out_of_memory():
    lines = ["[rank0]: torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total "
             "capacity of 79.15 GiB of which 1.06 GiB is free.", CHILD_FAILED]
    assert failure_reason(TRANSFER1, lines).startswith(
        "out of GPU memory: torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB.")


def test_a_run_wanting_more_gpus_than_the_host_has():
    lines = ["[COSMOS_QUEUE] needs 4 GPUs, the host has 2"]
    assert failure_reason(TRANSFER1, lines) == "needs 4 GPUs, the host has 2"
    assert re.search(probe_patterns()[2], lines[0])  # the probe brings the line back


def test_missing_checkpoints():
    t1 = ["FileNotFoundError: [Errno 2] No such file or directory: "
          "'checkpoints/nvidia/Cosmos-Guardrail1/blocklist/custom'", CHILD_FAILED]
    assert failure_reason(TRANSFER1, t1) == ("missing checkpoints: FileNotFoundError: [Errno 2] No such file or "
                                             "directory: 'checkpoints/nvidia/Cosmos-Guardrail1/blocklist/custom'")
    t25 = ["subprocess.CalledProcessError: Command '['uvx', 'hf>=1.3.5', 'download', 'nvidia/Cosmos-Transfer2.5-2B']'"
           " returned non-zero exit status 1."]
    assert failure_reason(TRANSFER25, t25).startswith("missing checkpoints: CalledProcessError: Command")


def test_otherwise_the_last_python_exception_that_is_not_torchruns_wrapper():
    lines = ["ValueError: first", "[rank0]: KeyError: 'OMP_NUM_THREADS'", CHILD_FAILED]
    assert failure_reason(TRANSFER1, lines) == "KeyError: 'OMP_NUM_THREADS'"
    assert failure_reason(TRANSFER1, [CHILD_FAILED]) is None
    assert failure_reason(TRANSFER1, []) is None


def test_a_long_reason_is_cut():
    reason = failure_reason(TRANSFER1, ["RuntimeError: " + "x" * 1000])
    assert len(reason) == 300 and reason.endswith("…")
