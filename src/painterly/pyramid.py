"""The coarse-to-fine plan of a stylize run, as a value: one :class:`Level` per pyramid step.

Built once from the content's shape and the parameters, before any pixel is touched, so the
progress bar, the ETA and the loop in :func:`painterly.style_transfer.stylize` all read the same
numbers. Arithmetic on shapes only.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import tiles
from .images import MIN_SIDE, long_side_shape
from .params import StyleParams

# What a step of an h x w picture costs, in pixels: a fixed part (Lite0's many small operations,
# whatever the size) plus ~0.24 us per pixel on a 2-core CPU, fitted to every level of 15 default
# runs at 256, 512 and 1536 px in the CLI's process set-up, after the batch norms were folded and
# the weights made channels-last (docs/speed.md, round 7): the fixed part is ~8.7 ms, 36,000
# pixels' worth, and with it the bar's worst error over those runs was lowest (23 %). An earlier
# fit needed a term growing like the area squared: that was the kernel zeroing freshly mapped
# pages for tensors above glibc's mmap threshold, which allocator.tune_malloc now keeps in the
# heap; per pixel, steps cost the same from 100 kpixels up.
STEP_OVERHEAD = 36_000.0
# Each level first computes its style targets and sets up its picture: ~6 pixels' worth per pixel
# of the level (0.9-2.5 us a pixel; 2.1-2.3 s before the 1024 px level of a 1536 px run).
LEVEL_SETUP_COST = 6.0


def step_cost(pixels: int) -> float:
    """Relative cost of one optimisation step over ``pixels`` pixels."""
    return pixels + STEP_OVERHEAD


@dataclass(frozen=True)
class Level:
    """One level: the picture at long side ``size`` (``hw`` pixels), optimised ``steps`` times per tile."""

    index: int
    size: int
    hw: tuple[int, int]
    steps: int
    tiles: int  # 1: the whole picture at once; more: overlapping tiles of params.tile_size
    margin: int  # reflected border optimised and then cut off (coarse, untiled levels only)
    step_cost: float  # relative cost of one step (of one tile), for the work-based progress

    @property
    def setup_cost(self) -> float:
        """Relative cost of preparing the level (its style targets, its picture), before its steps."""
        return LEVEL_SETUP_COST * self.hw[0] * self.hw[1]

    @property
    def work(self) -> float:
        return self.setup_cost + self.tiles * self.steps * self.step_cost


@dataclass(frozen=True)
class Pyramid:
    levels: tuple[Level, ...]

    @classmethod
    def plan(cls, content_hw: tuple[int, int], params: StyleParams) -> Pyramid:
        """The levels for a content image of shape ``content_hw``: those whose short side the
        network can still see, each with its steps, tiles, margin and cost."""
        h, w = content_hw
        sizes = [s for s in pyramid_sizes(params.size, params.pyramid_start, params.tile_size)
                 if min(h, w) * s / max(h, w) >= MIN_SIDE]
        return cls(tuple(_level(content_hw, size, params, i, len(sizes)) for i, size in enumerate(sizes)))

    @property
    def total_steps(self) -> int:
        return sum(level.tiles * level.steps for level in self.levels)

    @property
    def total_work(self) -> float:
        return sum(level.work for level in self.levels)


def pyramid_sizes(size: int, start: int, tile_size: int = 0, ratio: float = 2**0.5) -> list[int]:
    """Long sides of the coarse-to-fine levels, ending at ``size``.

    Up to ``tile_size`` the levels grow by ``ratio`` from ``start``; above it (tiled levels, which
    are costly) they double. ``start`` of 0, or not below ``size``, gives a single level.
    """
    sizes = [size]
    while tile_size and sizes[-1] > tile_size and start and sizes[-1] / 2 >= start:
        sizes.append(round(sizes[-1] / 2))
    while start and sizes[-1] / ratio >= start * 0.999:
        sizes.append(round(sizes[-1] / ratio))
    return sizes[::-1]


def margin_for(hw: tuple[int, int]) -> int:
    """Width of the throw-away margin of a coarse level: 1/32 of its long side, at most a quarter
    of its short side (a reflection must be narrower than what it reflects)."""
    return max(1, min(round(max(hw) / 32), min(hw) // 4))


def tile_overlap(params: StyleParams) -> int:
    return params.tile_size // 8


def _level(content_hw: tuple[int, int], size: int, params: StyleParams, index: int, count: int) -> Level:
    hw = long_side_shape(content_hw, size)
    steps = params.steps_for_level(index, count)
    last = index == count - 1
    if max(hw) <= params.tile_size:
        # Levels are optimised with a margin that is cut off afterwards: there the image border
        # is a large part of what the deep layers see, and the optimiser paints a multicoloured
        # fringe along it that finer levels would inherit. The last level gets a quarter of it
        # (a few pixels): enough to take the 2-3 px speckled band that TF-style "same" padding
        # left along the top edge (odd heights pad the top with zeros), at ~3 % more per step.
        margin = margin_for(hw) // 4 if last else margin_for(hw)
        side_h, side_w = hw[0] + 2 * margin, hw[1] + 2 * margin
        return Level(index, size, hw, steps, 1, margin, step_cost(side_h * side_w))
    boxes = tiles.tile_boxes(hw[0], hw[1], params.tile_size, tile_overlap(params))
    tile_h, tile_w = min(hw[0], params.tile_size), min(hw[1], params.tile_size)
    # The level below already holds the composition; tiles only sharpen it, so fewer steps do.
    return Level(index, size, hw, max(1, steps // 2), len(boxes), 0, step_cost(tile_h * tile_w))
