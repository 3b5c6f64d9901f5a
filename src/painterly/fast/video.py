"""Videos through a fast style: frames decoded and encoded by PyAV (which ships its own FFmpeg).

The audio is copied as it is (no re-encoding); the video is encoded as H.264 (yuv420p, CRF 18).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import ImageError
from ..io import long_side_shape, resize_to
from ..outputs import partial_path
from ..params import check_range
from ..progress import Progress
from .settings import SMOOTHING, SMOOTHING_RANGE


@dataclass(frozen=True, kw_only=True)
class VideoProgress(Progress):
    """``step``: frames written so far; ``total``: frames the container announces (0 when it does not say)."""


class TemporalSmoother:
    """Reduces flicker: where a pixel of the input barely changed since the previous frame, the
    output keeps part of the previous output.

    out_t = a * out_(t-1) + (1 - a) * y_t with a = amount * exp(-|x_t - x_(t-1)| / 0.03) per pixel,
    so moving parts follow the new frame at once and still parts stop shimmering. A cheap stand-in
    for the optical-flow temporal loss of Ruder et al. (2016), which needs a flow network.
    """

    def __init__(self, amount: float):
        check_range("smoothing", amount, *SMOOTHING_RANGE)  # the CLI's range: one place for both
        self.amount = amount
        self.previous: tuple[Tensor, Tensor] | None = None

    def __call__(self, frame: Tensor, painted: Tensor) -> Tensor:
        if self.amount > 0 and self.previous is not None and self.previous[0].shape == frame.shape:
            last_frame, last_out = self.previous
            change = (frame - last_frame).abs().mean(dim=1, keepdim=True)
            keep = self.amount * torch.exp(-change / 0.03)
            painted = keep * last_out + (1 - keep) * painted
        self.previous = (frame, painted)
        return painted


def stylize_video(
    source: str | os.PathLike,
    target: str | os.PathLike,
    paint: Callable[[Tensor], Tensor],
    *,
    size: int = 0,
    smoothing: float = SMOOTHING,
    on_progress: Callable[[VideoProgress], None] | None = None,
    check_shape: Callable[[tuple[int, int]], tuple[int, int]] | None = None,
) -> int:
    """Paint every frame of ``source`` into ``target`` (written atomically); returns frames written.

    ``size`` > 0 scales the frames to that long side before painting. ``check_shape``, given the
    frames' (height, width), returns the painted shape or raises (before any frame is painted).
    """
    import av

    smoother = TemporalSmoother(smoothing)
    target = Path(target)
    partial = partial_path(target)
    try:
        source_container = av.open(os.fspath(source))
    except (av.error.FFmpegError, OSError) as err:
        raise ImageError(f"{source}: not a readable video ({_first_line(err)})") from None
    written = 0
    try:
        with source_container as container:
            if not container.streams.video:
                raise ImageError(f"{source}: has no video stream")
            video_in = container.streams.video[0]
            audio_in = container.streams.audio[0] if container.streams.audio else None
            total = video_in.frames or 0
            with _open_output(partial, target) as out:
                video_out = out.add_stream("libx264", rate=video_in.average_rate or 25, options={"crf": "18"})
                video_out.pix_fmt = "yuv420p"
                height, width = video_in.codec_context.height, video_in.codec_context.width
                if check_shape is not None:
                    height, width = check_shape((height, width))
                elif size:
                    height, width = long_side_shape((height, width), size)
                video_out.height, video_out.width = _even(height), _even(width)
                audio_out = out.add_stream_from_template(audio_in) if audio_in is not None else None
                streams = [video_in] + ([audio_in] if audio_in is not None else [])
                for packet in container.demux(*streams):
                    if packet.stream is audio_in:
                        if packet.dts is not None:
                            packet.stream = audio_out
                            out.mux(packet)
                        continue
                    for frame in packet.decode():
                        pixels = _paint_frame(frame, paint, smoother, (height, width))
                        out.mux(video_out.encode(_to_frame(pixels, frame, video_out)))
                        written += 1
                        if on_progress:
                            on_progress(VideoProgress(step=written, total=total))
                out.mux(video_out.encode(None))  # flush the encoder
        if written == 0:
            raise ImageError(f"{source}: the video stream has no frames")
        os.replace(partial, target)
    except av.error.FFmpegError as err:
        raise ImageError(f"{source}: video could not be processed ({_first_line(err)})") from None
    finally:
        if partial.exists():
            partial.unlink()
    return written


def _open_output(partial: Path, target: Path) -> Any:  # an av.container.OutputContainer
    """The container being written; a failure here is the output's fault, and says so."""
    import av

    try:
        return av.open(os.fspath(partial), mode="w")
    except (av.error.FFmpegError, OSError, ValueError) as err:
        raise ImageError(f"{target}: cannot write the video there ({_first_line(err)})") from None


def _paint_frame(frame: Any, paint: Callable[[Tensor], Tensor], smoother: TemporalSmoother, shape: tuple[int, int]) -> np.ndarray:
    """Decoded frame -> painted (H, W, 3) uint8 pixels of the given shape."""
    rgb = frame.to_ndarray(format="rgb24")
    image = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float() / 255.0
    if tuple(image.shape[-2:]) != shape:
        image = resize_to(image, shape)
    painted = smoother(image, paint(image))
    return (painted[0].permute(1, 2, 0).clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()


def _to_frame(pixels: np.ndarray, source_frame: Any, stream: Any) -> Any:  # PyAV frames and streams
    import av

    out = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels[: stream.height, : stream.width]), format="rgb24")
    out.pts, out.time_base = source_frame.pts, source_frame.time_base
    return out


def _even(n: int) -> int:
    return max(2, n - n % 2)  # yuv420p needs even sides


def _first_line(err: BaseException) -> str:
    text = getattr(err, "strerror", None) or str(err).strip() or type(err).__name__
    return text.splitlines()[0][:200]


def frames_of(path: str | os.PathLike) -> Iterator[Tensor]:
    """The frames of a video as (1,3,H,W) tensors (used by tests and benchmarks)."""
    import av

    with av.open(os.fspath(path)) as container:
        for frame in container.decode(video=0):
            yield torch.from_numpy(frame.to_ndarray(format="rgb24")).permute(2, 0, 1)[None].float() / 255.0
