"""Reading videos with PyAV, and writing a thumbnail with OpenCV: the metrics' only file I/O.

Every failure to read becomes VideoError, one line naming the file and the reason.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

THUMB_NAME = "thumb.jpg"  # beside the output video
THUMB_WIDTH = 320  # pixels; the height keeps the video's aspect
THUMB_QUALITY = 85  # JPEG quality


class VideoError(Exception):
    """A video cannot be read; the message is one line."""


@dataclass(frozen=True)
class VideoFacts:
    frames: int
    width: int
    height: int


@contextmanager
def _opened(path: Path) -> Iterator[Any]:
    """The container and its first video stream, with a read error turned into VideoError."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoError(f"{path.name} has no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"  # decode on every core
            yield container, stream
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise VideoError(f"cannot read {path.name}: {_reason(exc)}") from exc


def _reason(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())


def facts(path: Path) -> VideoFacts:
    """Frame count and size, from the container's header (the packets are counted when it has no count)."""
    with _opened(path) as (container, stream):
        width, height = stream.codec_context.width, stream.codec_context.height
        frames = stream.frames or sum(1 for packet in container.demux(stream) if packet.size)
    return VideoFacts(int(frames), int(width), int(height))


def grey_frames(path: Path, indices: Collection[int]) -> Generator[tuple[int, np.ndarray], None, None]:
    """(index, 8-bit luma frame) for each wanted index, in order; VideoError if the video ends before
    the last one."""
    wanted = sorted(set(indices))
    if not wanted:
        return
    last = wanted[-1]
    keep = set(wanted)
    with _opened(path) as (container, stream):
        for index, frame in enumerate(container.decode(stream)):
            if index in keep:
                yield index, frame.to_ndarray(format="gray")
            if index >= last:
                return
    raise VideoError(f"{path.name} ended before frame {last}")


def write_thumbnail(video: Path, dest: Path | None = None) -> Path:
    """The video's first frame as a JPEG THUMB_WIDTH wide beside it (or at `dest`), written whole
    (a temporary name, then renamed); its path."""
    import cv2

    dest = dest or video.with_name(THUMB_NAME)
    with _opened(video) as (container, stream):
        first = next(container.decode(stream), None)
        if first is None:
            raise VideoError(f"{video.name} has no frames")
        picture = first.to_ndarray(format="bgr24")
    height, width = picture.shape[:2]
    size = (THUMB_WIDTH, max(1, round(height * THUMB_WIDTH / width)))
    small = cv2.resize(picture, size, interpolation=cv2.INTER_AREA if width > THUMB_WIDTH else cv2.INTER_LINEAR)
    part = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    ok, data = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, THUMB_QUALITY])
    if not ok:
        raise VideoError(f"cannot encode the thumbnail of {video.name}")
    part.write_bytes(data.tobytes())
    os.replace(part, dest)
    return dest
