"""The typed training settings: one place for each default and help text (the CLI options come from here)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .errors import SettingError
from .model import KINDS, Architecture

DEVICES = ("auto", "cpu", "cuda", "mps")


def setting(default: Any, help: str, minimum: float | None = None, choices: tuple[str, ...] | None = None) -> Any:
    return field(default=default, metadata={"help": help, "minimum": minimum, "choices": choices})


@dataclass
class TrainSettings:
    model: str = setting("capsnet", "capsnet, or baseline: the paper's plain CNN at the same width", choices=KINDS)
    conv1_channels: int = setting(256, "channels of Conv1 (the paper: 256; 64 or 128 for a CPU); the baseline's width", minimum=8)
    primary_types: int = setting(32, "capsule types in PrimaryCaps (the paper: 32, i.e. 1152 capsules of 8-D)", minimum=1)
    routing_iterations: int = setting(3, "routing-by-agreement iterations r", minimum=1)
    epochs: int = setting(30, "passes over the training images", minimum=1)
    batch_size: int = setting(100, "images per step", minimum=1)
    learning_rate: float = setting(1e-3, "Adam step size of the first epoch", minimum=0.0)
    lr_decay: float = setting(0.95, "the step size is multiplied by this after every epoch", minimum=0.0)
    shift: int = setting(2, "random shifts of up to this many pixels while training (the paper: 2)", minimum=0)
    reconstruction_weight: float = setting(0.0005, "scale of the decoder's sum-of-squares loss (the paper: 0.0005; 0: no decoder loss)", minimum=0.0)
    m_plus: float = setting(0.9, "margin loss: a present class's length should exceed this", minimum=0.0)
    m_minus: float = setting(0.1, "margin loss: an absent class's length should stay below this", minimum=0.0)
    absent_weight: float = setting(0.5, "margin loss: weight λ of absent classes", minimum=0.0)
    train_limit: int = setting(0, "train on only the first N training images (0: all)", minimum=0)
    seed: int = setting(0, "seed of the initial weights, the order of the images and the shifts")
    device: str = setting("auto", "auto (CUDA, then MPS, then CPU), cpu, cuda or mps", choices=DEVICES)

    def validate(self) -> TrainSettings:
        for f in dataclasses.fields(self):
            value, meta = getattr(self, f.name), f.metadata
            if meta["choices"] and value not in meta["choices"]:
                raise SettingError(f"{f.name}: {value!r} is not one of {', '.join(meta['choices'])}")
            if meta["minimum"] is not None and not value >= meta["minimum"]:  # `not >=` also catches NaN
                raise SettingError(f"{f.name}: {value} is below the minimum {meta['minimum']}")
        return self

    def architecture(self, image_size: int = 28, classes: int = 10) -> Architecture:
        return Architecture(
            kind=self.model, image_size=image_size, conv1_channels=self.conv1_channels,
            primary_types=self.primary_types, classes=classes, routing_iterations=self.routing_iterations,
        )

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainSettings:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})
