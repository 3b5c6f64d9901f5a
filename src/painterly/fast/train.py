"""Training a fast style: a TransformNet learns to paint like `stylize`.

Johnson et al. (2016) train the network on the optimisation's perceptual loss alone (the same
content and style losses, but the pixels come out of a network that sees random crops of many
photos). In the minutes a CPU can give it, such a network learned the palette and a stroke pattern
and lost the scene (docs/fast.md). So by default it first has a teacher: `stylize` paints each
training photo once, and the network learns to copy those pictures (a pixel term, and the content
term's target taken from the teacher's picture instead of the photo), with the style and palette
terms kept to hold the strokes that a copy alone would average away. This is distillation
(Hinton et al. 2015) of the optimisation into the network; Johnson et al.'s loss stays available
with ``teacher="none"``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor

from .. import losses, shading
from ..backbones import create_backbone
from ..devices import resolve_device
from ..errors import ImageError, ParameterError
from ..io import load_image, resize_long_side
from ..params import StyleParams, layers_or_default
from ..progress import Progress
from ..style_transfer import stylize
from .model_file import FastStyle
from .network import Architecture, TransformNet
from .settings import TrainSettings

StopReason = Literal["finished", "callback", "interrupted"]

# Content layers for training when none are given. Shallower than the optimisation default
# (b9.out): a network that starts from nothing must be pulled toward the photo's edges and shapes,
# not only its objects; with b9.out alone it learned the style and lost the scene (docs/fast.md).
# Johnson et al. (2016) likewise use relu2_2 of VGG-16.
FAST_CONTENT_LAYERS = {"efficientnet-lite0": "b2.out,b4.out,b9.out", "vgg19": "relu2_2", "vgg16": "relu2_2"}


# What the teacher's picture of one photo costs, in the training schedule's units (a step costs
# the pixels of its batch of crops): `stylize` at its defaults took as long as ~130 steps of four
# 128 px crops for a 512x400 photo on a 2-core CPU, ~40 per pixel of the photo.
TEACHER_WORK_PER_PIXEL = 40.0

# Pixels of a batch the palette histogram compares per step (a random subset: sorting every
# pixel of a batch of crops each step would cost more than the network).
PALETTE_SAMPLES = 2**14


@dataclass(frozen=True, kw_only=True)
class TrainEvent(Progress):
    """``step`` counts from the first step of the first run (resumes continue it); ``elapsed`` is the
    seconds of training summed over resumed runs."""

    loss: float
    _preview: Callable[[], Tensor] = field(default=lambda: torch.empty(0), repr=False)

    def preview(self) -> Tensor:
        """The network's current rendering of the first photo, (1,3,H,W) on the CPU."""
        return self._preview()


TrainCallback = Callable[[TrainEvent], "bool | None"]


class Trainer:
    """Holds the network, the optimiser, the photos and the style targets of one training run."""

    def __init__(self, style_image: Tensor, photos: Sequence[Tensor], settings: TrainSettings, style_name: str = "style"):
        self.settings = settings.validate()
        if not photos:
            raise ParameterError("images: no readable photos to train on")
        self.style_name = style_name
        self.device = resolve_device(settings.device)
        self.generator = torch.Generator().manual_seed(settings.seed)
        torch.manual_seed(settings.seed)  # the network's initial weights
        self.network = TransformNet(Architecture(settings.width, settings.blocks, settings.full_width, settings.photo_skip)).to(self.device)
        self.optimizer = torch.optim.Adam(self.network.parameters(), lr=settings.learning_rate)
        self.photos = [_fit_for_crops(p, settings.photo_size, settings.crop_size) for p in photos]
        self.style_image = style_image
        # The teacher's picture of each photo (None until painted), on the CPU like the photos.
        self.targets: list[Tensor | None] = [None] * len(self.photos) if settings.teacher == "stylize" else []
        self.step = 0
        self.elapsed = 0.0

        self.backbone = create_backbone(settings.model, device=self.device)
        self.content_layers = layers_or_default(
            settings.content_layers or FAST_CONTENT_LAYERS.get(settings.model), self.backbone.default_content_layers, "content_layers"
        )
        self.style_layers = layers_or_default(settings.style_layers, self.backbone.default_style_layers, "style_layers")
        self.backbone.check_layers([*self.content_layers, *self.style_layers])
        style = resize_long_side(style_image, settings.style_size).to(self.device)
        with torch.no_grad():
            feats = self.backbone(style, list(self.style_layers))
            self.style_loss = losses.StyleLoss({n: losses.gram_matrix(f) for n, f in feats.items()}, self.style_layers)
            self.style_colors = losses.color_gram(style)
            self.color_directions = losses.color_directions().to(self.device)
            self.style_quantiles = losses.color_quantiles(style, self.color_directions)
            self.style_tones = shading.tone_quantiles(style)

    # -- the schedule ------------------------------------------------------------------------

    def crop_size_at(self, step: int) -> int:
        """Crop side of the 0-based ``step``: small crops first (cheap), then full-size ones."""
        s = self.settings
        early_steps = round(s.early_fraction * s.steps)
        return min(s.early_crop_size, s.crop_size) if step < early_steps else s.crop_size

    def work_done(self, steps: int) -> float:
        """Fraction of the run's cost spent after ``steps`` steps (and the teacher's pictures painted
        so far); a step costs its crops' pixels."""
        s = self.settings
        early = min(round(s.early_fraction * s.steps), s.steps)
        small = min(s.early_crop_size, s.crop_size) ** 2 * s.batch_size
        large = s.crop_size**2 * s.batch_size
        teacher = [TEACHER_WORK_PER_PIXEL * p.shape[-2] * p.shape[-1] for p in self.photos] if self.targets else []
        total = sum(teacher) + early * small + (s.steps - early) * large
        done = sum(w for w, t in zip(teacher, self.targets) if t is not None)
        done += min(steps, early) * small + max(0, steps - early) * large
        return done / total if total else 1.0

    # -- the teacher ------------------------------------------------------------------------

    def teach(self, callbacks: Sequence[Callable[[Progress], object]] = ()) -> StopReason:
        """Paint each photo not yet painted with `stylize` at its defaults; ``callbacks`` get a
        Progress after each photo. Ctrl-C stops between photos (or inside one, losing only it)."""
        started = time.perf_counter() - self.elapsed
        pending = [i for i, target in enumerate(self.targets) if target is None]  # none without a teacher
        try:
            for i in pending:
                photo = self.photos[i]
                params = StyleParams(size=max(photo.shape[-2:]), model=self.settings.model, device=self.settings.device,
                                     seed=self.settings.seed)
                result = stylize(photo, self.style_image, params, backbone=self.backbone)
                if result.stopped == "interrupted":
                    return "interrupted"
                self.targets[i] = result.image
                self.elapsed = time.perf_counter() - started
                event = Progress(step=i + 1, total=len(self.photos), elapsed=self.elapsed, progress=self.work_done(self.step),
                                 stage="teacher")
                for callback in callbacks:
                    callback(event)
        except KeyboardInterrupt:
            return "interrupted"
        return "finished"

    # -- one step ---------------------------------------------------------------------------

    def batch(self, size: int | None = None) -> tuple[Tensor, Tensor | None]:
        """Random crops (with random horizontal flips) of randomly chosen photos, and the same
        crops of the teacher's pictures (None without a teacher)."""
        crops: list[Tensor] = []
        targets: list[Tensor] = []
        size = size or self.settings.crop_size
        for _ in range(self.settings.batch_size):
            index = int(torch.randint(len(self.photos), (1,), generator=self.generator))
            photo = self.photos[index]
            h, w = photo.shape[-2:]
            top = int(torch.randint(h - size + 1, (1,), generator=self.generator))
            left = int(torch.randint(w - size + 1, (1,), generator=self.generator))
            flip = bool(torch.rand((), generator=self.generator) < 0.5)
            for source, out in ((photo, crops), (self.targets[index] if self.targets else None, targets)):
                if source is not None:
                    crop = source[..., top : top + size, left : left + size]
                    out.append(crop.flip(-1) if flip else crop)
        return torch.cat(crops).to(self.device), torch.cat(targets).to(self.device) if targets else None

    def loss(self, photos: Tensor, targets: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        s = self.settings
        with torch.no_grad():
            content_targets = self.backbone(photos if targets is None else targets, list(self.content_layers))
        painted = self.network(photos)
        feats = self.backbone(painted, list(dict.fromkeys([*self.content_layers, *self.style_layers])))
        content = losses.weighted_mean(
            {n: losses.content_loss(feats[n], content_targets[n]) for n in self.content_layers}, self.content_layers
        )
        style = self.style_loss(feats)
        terms = {
            "content": s.content_weight * content,
            "style": s.style_weight * style,
            # Colour-only TV as in `stylize`: removes colour speckle, keeps the brush strokes.
            "tv": losses.smoothness_loss(painted, s.tv_weight, s.chroma_tv_weight),
            "color": s.color_weight * self.palette_loss(painted),
        }
        if targets is not None:
            terms["teacher"] = s.teacher_weight * (painted - targets).abs().mean()
        if s.shading_weight:
            # As in `stylize`: the crops' blurred luminance (blurred as at the photos' size) in the
            # painting's tones, the whole batch remapped at once.
            target = shading.shading_target(photos, self.style_tones, s.photo_size)
            terms["shading"] = s.shading_weight * shading.ShadingLoss(target, s.photo_size)(painted)
        return sum(terms.values()), terms

    def palette_loss(self, painted: Tensor) -> Tensor:
        """The palette term: the histogram (sliced Wasserstein over RGB directions) of the whole
        batch's pixels against the painting's, or the mean and covariance of the colours."""
        if self.settings.color_statistic == "moments":
            return losses.relative_squared_error(losses.color_gram(painted), self.style_colors)
        pixels = painted.permute(1, 0, 2, 3).flatten(1).T  # every pixel of the batch, (N, 3)
        count = min(len(pixels), PALETTE_SAMPLES)
        subset = torch.randperm(len(pixels), generator=self.generator)[:count].to(pixels.device)
        projected = losses.sorted_projections(pixels[subset], self.color_directions)  # (K, count)
        target, scale = losses.palette_target(self.style_quantiles, count)
        return (projected - target).pow(2).sum() / scale

    def run(self, callbacks: Sequence[TrainCallback] = ()) -> StopReason:
        """Train up to ``settings.steps``; a callback returning True, or Ctrl-C, stops early."""
        if self.teach() == "interrupted":
            return "interrupted"
        self.network.train()
        started = time.perf_counter() - self.elapsed
        try:
            while self.step < self.settings.steps:
                self.optimizer.zero_grad(set_to_none=True)
                total, terms = self.loss(*self.batch(self.crop_size_at(self.step)))
                total.backward()
                self.optimizer.step()
                self.step += 1
                self.elapsed = time.perf_counter() - started
                event = TrainEvent(
                    step=self.step, total=self.settings.steps, loss=float(total.detach()),
                    terms={k: float(v.detach()) for k, v in terms.items()}, elapsed=self.elapsed,
                    progress=self.work_done(self.step), _preview=self.preview,
                )
                # A list, not a generator: every callback sees every step even when an earlier one asks to stop.
                if any([bool(cb(event)) for cb in callbacks]):  # noqa: C419
                    return "callback"
        except KeyboardInterrupt:
            return "interrupted"
        finally:
            self.network.eval()
        return "finished"

    def preview(self) -> Tensor:
        was_training = self.network.training
        self.network.eval()
        with torch.no_grad():
            out = self.network(self.photos[0].to(self.device)).cpu()
        self.network.train(was_training)
        return out

    # -- results and resuming ---------------------------------------------------------------

    def style(self, info: dict[str, Any] | None = None) -> FastStyle:
        """The trained network as a FastStyle, with the training record in its info."""
        record = {
            "steps": self.step,
            "seconds": round(self.elapsed, 1),
            "settings": self.settings.as_dict(),
            # The layers actually used: the backbone's defaults may change between versions.
            "content_layers": dict(self.content_layers),
            "style_layers": dict(self.style_layers),
        }
        network = TransformNet(self.network.arch)
        network.load_state_dict({k: v.detach().cpu() for k, v in self.network.state_dict().items()})
        return FastStyle(network=network.eval().requires_grad_(False), name=self.style_name, info={**record, **(info or {})})

    def checkpoint(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "elapsed": self.elapsed,
            "settings": self.settings.as_dict(),
            "network": {k: v.detach().cpu() for k, v in self.network.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            # The teacher's pictures, as 8-bit images: painting them again would take minutes.
            "teacher": [None if t is None else (t * 255).round().to(torch.uint8) for t in self.targets],
        }

    def resume(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint of a run with the same settings (the step count may grow)."""
        saved = {k: v for k, v in state["settings"].items() if k != "steps"}
        ours = {k: v for k, v in self.settings.as_dict().items() if k != "steps"}
        changed = sorted(k for k in ours if saved.get(k) != ours[k])
        if changed:
            raise ParameterError(
                f"resume: the checkpoint was trained with other settings ({', '.join(changed)}); "
                "use the same options, or start afresh"
            )
        self.network.load_state_dict(state["network"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.step, self.elapsed = int(state["step"]), float(state["elapsed"])
        saved_targets = state.get("teacher") or []
        if len(saved_targets) == len(self.targets):  # the same photos; otherwise they are painted again
            self.targets = [None if t is None else t.float() / 255 for t in saved_targets]


def _fit_for_crops(photo: Tensor, long_side: int, crop: int) -> Tensor:
    """Scale to ``long_side``, but never so small that a crop does not fit."""
    h, w = photo.shape[-2:]
    scale = max(long_side / max(h, w), crop / min(h, w))
    return resize_long_side(photo, max(crop, round(max(h, w) * scale)))


def load_photos(paths: Sequence[str]) -> tuple[list[Tensor], list[tuple[str, str]]]:
    """Readable photos, and (path, reason) for each file that could not be read."""
    photos, skipped = [], []
    for path in paths:
        try:
            photos.append(load_image(path))
        except ImageError as err:
            skipped.append((str(path), str(err)))
    return photos, skipped
