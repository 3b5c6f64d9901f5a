"""Small generated videos for tests: moving stripes, optionally with a sine tone."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def make_video(path: Path, *, frames: int = 12, size: tuple[int, int] = (96, 64), fps: int = 12, audio: bool = True) -> Path:
    width, height = size
    with av.open(str(path), mode="w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        sound = out.add_stream("aac", rate=22050) if audio else None
        x = np.arange(width)[None, :, None]
        for i in range(frames):
            stripes = ((np.sin((x + 4 * i) / 5.0) + 1) * 127).astype(np.uint8)
            pixels = np.broadcast_to(stripes, (height, width, 3)).copy()
            pixels[..., 2] = 255 - pixels[..., 0]
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if sound is not None:
            samples_per_frame = 1024
            total = int(22050 * frames / fps)
            for start in range(0, total, samples_per_frame):
                t = (np.arange(start, start + samples_per_frame) / 22050.0).astype(np.float32)
                tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]
                chunk = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
                chunk.sample_rate = 22050
                chunk.pts = start
                chunk.time_base = Fraction(1, 22050)
                out.mux(sound.encode(chunk))
            out.mux(sound.encode(None))
    return path
