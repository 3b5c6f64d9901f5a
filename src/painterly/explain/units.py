"""What a unit responds to: its top image patches over a folder (Zeiler & Fergus 2013, Fig. 2).

Two passes. The first streams every image through the backbone and keeps, per unit (channel),
only the top k (value, image, location) triples (:class:`~.topk.TopK`), so memory does not grow
with the folder. The second re-reads just the images that made it into a top k and crops each
patch: the unit's receptive field around its strongest location, computed from the backbone's
layer metadata (kernel sizes, strides, padding), clipped to the image.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import cast

import torch
from torch import Tensor, nn

from ..backbones import Backbone, LayerInfo
from ..errors import ImageError, PainterlyError, ParameterError
from ..images import list_images
from ..params import DEFAULT_MODEL
from .common import as_image, check_size, device_of, get_backbone, prepared
from .defaults import UNITS
from .topk import TopK
from .windows import Window, receptive_window, tile_square

GREY = 0.5  # fills the part of a receptive field that lies outside the image

Source = str | os.PathLike | Tensor


@dataclass(frozen=True)
class Patch:
    """One of a unit's top patches. Coordinates are pixels of the image as the network saw it."""

    unit: int
    rank: int  # 0 = strongest
    activation: float  # the unit's value there, read before a ReLU6 cap (see UnitScores)
    source: str  # file path, or "image N" for a tensor
    position: tuple[int, int]  # (row, column) of the unit on the layer's grid
    window: Window  # the receptive field (square, may extend past the image)
    box: tuple[int, int, int, int]  # (top, left, bottom, right) of the window inside the image
    image_size: tuple[int, int]  # (H, W) of the resized image the network saw
    pixels: Tensor = field(repr=False)  # (3, bottom-top, right-left) crop in [0, 1]

    def tile(self) -> Tensor:
        """(3, s, s): the crop in a square (see :func:`tile_square`), grey outside the image."""
        square = tile_square(self.window, self.box)
        out = torch.full((3, square.side, square.side), GREY)
        top, left, bottom, right = self.box
        out[:, top - square.top: bottom - square.top, left - square.left: right - square.left] = self.pixels
        return out


@dataclass
class UnitPatches:
    """Result of :func:`top_patches`."""

    model: str
    layer: str
    info: LayerInfo
    units: list[int]  # in display order
    patches: dict[int, list[Patch]]  # unit -> its top patches, strongest first
    peaks: Tensor  # (C,) the largest activation of every unit over all images
    images_seen: int
    skipped: list[str] = field(default_factory=list)  # one line per file that was left out

    def sheet(self, tile: int = UNITS.tile, columns: int | None = None) -> Tensor:
        """The labelled grid of 3x3 tiles, one per unit, as a (1, 3, H, W) image."""
        from .sheet import unit_sheet

        return unit_sheet(self, tile=tile, columns=columns)


def parse_units(spec: str) -> list[int]:
    """'3,17,42' -> [3, 17, 42]."""
    try:
        units = [int(part) for part in spec.split(",") if part.strip()]
    except ValueError:
        raise ParameterError(f"units: {spec!r} is not a comma-separated list of unit numbers") from None
    if not units:
        raise ParameterError("units: give at least one unit number")
    return units


def top_patches(
    images: str | os.PathLike | Sequence[Source],
    layer: str,
    *,
    model: str | Backbone = DEFAULT_MODEL,
    units: int | Sequence[int] = UNITS.num_units,
    k: int = UNITS.top,
    size: int = UNITS.size,
    batch_size: int | None = None,
    device: str | torch.device = "auto",
    progress: Callable[[int, int], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> UnitPatches:
    """The ``k`` image patches that excite each unit of ``layer`` most, over a folder of images.

    ``images`` is a folder (searched recursively) or a list of files and/or (1,3,H,W) tensors.
    ``units`` is how many units to show (those with the highest peak activation) or a list of
    unit numbers. Each image is resized to ``size`` px on its long side, with both sides a
    multiple of the layer's stride. Files that cannot be read are skipped; ``warn`` receives one
    line for each. ``progress(done, total)`` is called after each image. ``batch_size`` defaults
    to 1 on the CPU (measured fastest per image there: a batch's activations overflow the
    caches) and 16 elsewhere.
    """
    check_size(size)
    if k < 1:
        raise ParameterError(f"k (patches per unit): must be at least 1, got {k}")
    if batch_size is not None and batch_size < 1:
        raise ParameterError(f"batch_size: must be at least 1, got {batch_size}")
    sources: list[Source] = [*list_images(images)] if isinstance(images, (str, os.PathLike)) else list(images)
    if not sources:
        raise ParameterError("images: the list of images is empty")
    net = get_backbone(model, device, [layer])
    info = net.layers[layer]
    wanted = _check_units(units, info)
    if batch_size is None:
        batch_size = 1 if device_of(net).type == "cpu" else 16

    top = TopK(info.channels, k)
    score = UnitScores(net, layer)
    skipped: list[str] = []
    seen = 0
    for first, batch in _batches(sources, size, info.stride, batch_size, skipped, warn, progress):
        top.update(score(batch.to(device_of(net))), first)
        seen += batch.shape[0]
    if seen == 0:
        raise ImageError(f"none of the {len(sources)} image files could be read (first problem: {skipped[0]})")

    peaks = top.peaks()
    if isinstance(wanted, int):
        # Highest peak first; a stable sort keeps unit order among equal peaks.
        wanted = torch.sort(peaks, descending=True, stable=True).indices[:wanted].tolist()
    patches = _crop_patches(top, wanted, sources, size, info, warn, skipped)
    return UnitPatches(
        model=net.name, layer=layer, info=info, units=wanted, patches=patches,
        peaks=peaks, images_seen=seen, skipped=skipped,
    )


class UnitScores:
    """Activations of a layer for ranking, read before a ReLU6 cap if the layer ends in one.

    EfficientNet-Lite's ReLU6 clips at 6, and in a large folder hundreds of patches reach 6 for
    many units: ranking by the clipped value would then keep whichever came first. The value
    before the clip is the same number below 6 and keeps ordering the strongest ones above it.
    The clipping module is found by identity (its output is the tapped tensor), so this works
    for any backbone and changes nothing where a layer has no cap (VGG's ReLUs, block outputs).
    """

    CAPS = (nn.ReLU6, nn.Hardtanh)  # ReLU6 is a Hardtanh subclass; kept explicit for the reader

    def __init__(self, net: Backbone, layer: str) -> None:
        self.net, self.layer = net, layer
        self.cap: nn.Module | None = None
        self.probed = False

    @torch.no_grad()
    def __call__(self, batch: Tensor) -> Tensor:
        captured: dict[str, Tensor] = {}
        if not self.probed:
            # Weak references: holding every capped output would cost memory, and bare id()s
            # of freed tensors can be reused by the tap.
            outputs: list[tuple[weakref.ref, nn.Module]] = []
            hooks = [m.register_forward_hook(lambda mod, i, o: outputs.append((weakref.ref(o), mod)))
                     for m in self.net.modules() if isinstance(m, self.CAPS)]
            try:
                tap = self.net(batch, [self.layer])[self.layer]
            finally:
                for h in hooks:
                    h.remove()
            self.cap = next((mod for ref, mod in outputs if ref() is tap), None)
            self.probed = True
        if self.cap is None:
            return self.net(batch, [self.layer])[self.layer]
        hook = self.cap.register_forward_hook(lambda mod, i, o: captured.__setitem__("pre", i[0]))
        try:
            tap = self.net(batch, [self.layer])[self.layer]
        finally:
            hook.remove()
        pre = captured.get("pre")
        return pre if pre is not None and pre.shape == tap.shape else tap


def _check_units(units: int | Sequence[int], info: LayerInfo) -> int | list[int]:
    if isinstance(units, int) and not isinstance(units, bool):
        if units < 1:
            raise ParameterError(f"units: need at least 1, got {units}")
        return min(units, info.channels)
    chosen = list(dict.fromkeys(cast(Sequence[int], units)))  # drop repeats, keep order
    if not chosen:
        raise ParameterError("units: give at least one unit number")
    bad = [u for u in chosen if not isinstance(u, int) or not 0 <= u < info.channels]
    if bad:
        raise ParameterError(
            f"units: {', '.join(map(str, bad))} out of range; layer {info.name} has "
            f"{info.channels} units, numbered 0 to {info.channels - 1}"
        )
    return chosen


def _describe(source: Source, index: int) -> str:
    return f"image {index}" if isinstance(source, Tensor) else os.fspath(source)


def _load(source: Source, index: int, size: int, stride: int) -> Tensor:
    what = _describe(source, index)
    return prepared(as_image(source, what), size, max(stride, 1), what)


def _batches(
    sources: Sequence[Source], size: int, stride: int, batch_size: int, skipped: list[str],
    warn: Callable[[str], None] | None, progress: Callable[[int, int], None] | None,
) -> Iterator[tuple[int, Tensor]]:
    """Yield (index of first image, (B,3,H,W) batch): consecutive readable images of equal size."""
    pending: list[Tensor] = []
    first = 0
    for index, source in enumerate(sources):
        try:
            image = _load(source, index, size, stride)
        except PainterlyError as err:  # ImageError (unreadable) or ParameterError (too small)
            skipped.append(str(err))
            if warn:
                warn(str(err))
            image = None
        if image is not None:
            if pending and (image.shape != pending[0].shape or len(pending) == batch_size):
                yield first, torch.cat(pending)
                pending = []
            if not pending:
                first = index
            pending.append(image)
        elif pending:
            # A gap in the stream: indices in a batch must be consecutive.
            yield first, torch.cat(pending)
            pending = []
        if progress:
            progress(index + 1, len(sources))
    if pending:
        yield first, torch.cat(pending)


def _crop_patches(
    top: TopK, units: list[int], sources: Sequence[Source], size: int, info: LayerInfo,
    warn: Callable[[str], None] | None, skipped: list[str],
) -> dict[int, list[Patch]]:
    """Second pass: read each image that holds a kept patch once, and cut all its patches."""
    wanted: dict[int, list[tuple[int, int, float, int, int]]] = {}
    for unit in units:
        for rank, (value, index, row, col) in enumerate(top.entries(unit)):
            wanted.setdefault(index, []).append((unit, rank, value, row, col))
    found: dict[int, list[Patch]] = {unit: [] for unit in units}
    for index in sorted(wanted):
        try:
            image = _load(sources[index], index, size, info.stride)[0]
        except PainterlyError as err:  # the file changed since the first pass
            message = f"{err} (read on the first pass, not on the second)"
            skipped.append(message)
            if warn:
                warn(message)
            continue
        hw = (image.shape[-2], image.shape[-1])
        for unit, rank, value, row, col in wanted[index]:
            window = receptive_window(info, row, col, hw)
            box = window.clipped(hw)
            found[unit].append(Patch(
                unit=unit, rank=rank, activation=value, source=_describe(sources[index], index),
                position=(row, col), window=window, box=box, image_size=hw,
                pixels=image[:, box[0]:box[2], box[1]:box[3]].clone(),
            ))
    for patches in found.values():
        patches.sort(key=lambda p: p.rank)
    return found

