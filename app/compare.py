"""Side by side: a grid of runs' videos played together, captioned with what differs (plain data in,
HTML out). The videos are served from outputs_dir like the player's; one control bar plays, pauses
and seeks them all (`SYNC_JS`, run by the browser when the grid mounts)."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from urllib.parse import quote

from .scores import scores_caption

MAX_RUNS = 9
USAGE = f"Give a sweep id, or 2 to {MAX_RUNS} run ids separated by spaces."
FILE_ROUTE = "/gradio_api/file="  # how Gradio serves a file under its static paths


def differing(runs: Sequence[Mapping], prompt_names: Mapping[str, str]) -> list[str]:
    """A caption per run: the parameters whose values differ between the runs (and the prompt and
    model, if those differ), else the run id; then its scores, once it has them."""
    rows = [{"prompt": prompt_names.get(r["prompt_id"], r["prompt_id"]), "model": r["model"], **r["params"]}
            for r in runs]
    keys = [k for k in dict.fromkeys(k for row in rows for k in row) if len({repr(row.get(k)) for row in rows}) > 1]
    captions = [" · ".join(f"{k} {_shown(row.get(k))}" for k in keys) or run["id"] for row, run in zip(rows, runs,
                                                                                                   strict=True)]
    return [" · ".join(filter(None, (caption, scores_caption(run)))) for caption, run in zip(captions, runs,
                                                                                            strict=True)]


def unknown_text(ids: Sequence[str]) -> str:
    """What Compare says of ids that are neither a run's nor a sweep's: each of them, by name."""
    return f"No run or sweep {', '.join(ids)}."


def lone_text(run_id: str) -> str:
    return f"Run {run_id} alone: give it with 1 to {MAX_RUNS - 1} more run ids, or give a sweep id."


def line(text: str) -> str:
    """A line of text in the grid's place."""
    return f"<p>{html.escape(text)}</p>"


def _shown(value: object) -> str:
    if isinstance(value, list | tuple):
        return "/".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def grid_html(videos: Sequence[tuple[str, str, str]]) -> str:
    """(run id, absolute video path, caption) each, as a grid with one control bar."""
    if not videos:
        return "<p class='compare-empty'>No finished videos to compare.</p>"
    columns = 1 if len(videos) == 1 else 2 if len(videos) <= 4 else 3
    cells = "".join(
        f"<figure class='compare-cell' data-run='{html.escape(run_id)}'>"
        f"<video muted playsinline preload='auto' src='{FILE_ROUTE}{quote(path)}'></video>"
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        for run_id, path, caption in videos)
    return (f"<div class='compare-bar'><button class='compare-play' type='button'>Play all</button>"
            f"<input class='compare-seek' type='range' min='0' max='1000' value='0' aria-label='Seek all'></div>"
            f"<div class='compare-cells' style='display:grid;grid-template-columns:repeat({columns},1fr);gap:8px'>"
            f"{cells}</div>")


# One control for all: Play/Pause toggles every video, the slider seeks every one to the same
# fraction, and the first video's clock moves the slider. Listeners sit on the component's element,
# so they survive the grid's content being replaced.
SYNC_JS = """
const videos = () => Array.from(element.querySelectorAll('video'));
element.addEventListener('click', (event) => {
  const button = event.target.closest('.compare-play');
  if (!button) return;
  const all = videos();
  const playing = all.some((v) => !v.paused);
  if (playing) { all.forEach((v) => v.pause()); button.textContent = 'Play all'; return; }
  const start = all.length ? all[0].currentTime : 0;
  all.forEach((v) => { v.currentTime = start; v.play(); });
  button.textContent = 'Pause all';
});
element.addEventListener('input', (event) => {
  if (!event.target.classList.contains('compare-seek')) return;
  const fraction = Number(event.target.value) / 1000;
  videos().forEach((v) => { if (v.duration) v.currentTime = fraction * v.duration; });
});
element.addEventListener('timeupdate', (event) => {
  const first = videos()[0];
  const seek = element.querySelector('.compare-seek');
  if (event.target === first && seek && first.duration) {
    seek.value = Math.round(1000 * first.currentTime / first.duration);
  }
}, true);
element.addEventListener('ended', (event) => {
  if (event.target === videos()[0]) {
    const button = element.querySelector('.compare-play');
    if (button) button.textContent = 'Play all';
  }
}, true);
"""
