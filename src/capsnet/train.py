"""Training and evaluation: one loop for CapsNet and the baseline, single digits and MultiMNIST.

The loop is quiet: it reports a :class:`TrainEvent` after every step to callbacks (progress bar,
checkpoints), and a callback returning True, or Ctrl-C, stops it between steps. Everything that
decides what comes next (weights, Adam's moments, the epoch's order, the random generators) is in
:meth:`Trainer.state`, so a resumed run continues exactly where the saved one stopped.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from .data import DataSet, Split
from .devices import resolve_device
from .errors import CheckpointError, SettingError
from .layers import margin_loss
from .model import Architecture, BaselineCNN, CapsNet, Output, build_model
from .settings import TrainSettings
from .tasks import MULTI_SIZE, Batch, multi_batch, pair_partners, single_batch

Task = Literal["single", "multi"]
StopReason = Literal["finished", "callback", "interrupted"]
# Pairs of the MultiMNIST test set are drawn once from this seed, so every model sees the same ones.
MULTI_TEST_SEED = 1234


@dataclass(frozen=True)
class TrainEvent:
    step: int  # 1-based, over all epochs, continued by resumed runs
    total: int
    epoch: int  # 1-based
    loss: float
    elapsed: float  # seconds of training, summed over resumed runs
    epoch_end: bool = False


TrainCallback = Callable[[TrainEvent], "bool | None"]


def batch_loss(model: CapsNet | BaselineCNN, batch: Batch, settings: TrainSettings) -> Tensor:
    """Margin loss plus the scaled decoder loss (CapsNet), or cross-entropy (baseline)."""
    if isinstance(model, BaselineCNN):
        return F.cross_entropy(model.logits(batch.images), batch.labels)
    out: Output = model(batch.images)
    loss = margin_loss(out.scores, batch.targets, settings.m_plus, settings.m_minus, settings.absent_weight)
    if settings.reconstruction_weight > 0:
        assert out.capsules is not None
        for labels, target in batch.reconstructions:  # the decoder sees only the true class's capsule
            squared = (model.decode(out.capsules, labels) - target).pow(2).flatten(1).sum(1)
            loss = loss + settings.reconstruction_weight * squared.mean()
    return loss


class Trainer:
    """The model, its optimiser and the data of one training run."""

    def __init__(self, data: DataSet, settings: TrainSettings, task: Task = "single"):
        self.settings = settings.validate()
        if task == "multi" and settings.model != "capsnet":
            raise SettingError("model: MultiMNIST is for capsnet only (the baseline has no way to name two digits)")
        self.data, self.task = data, task
        self.train_split = data.train.subset(settings.train_limit) if settings.train_limit else data.train
        if len(self.train_split) == 0:
            raise SettingError("train_limit: no training images")
        self.device = resolve_device(settings.device)
        self.arch = settings.architecture(MULTI_SIZE if task == "multi" else 28, len(data.classes))
        torch.manual_seed(settings.seed)  # the initial weights
        self.model = build_model(self.arch).to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=settings.learning_rate)
        self.generator = torch.Generator().manual_seed(settings.seed)
        self.steps_per_epoch = math.ceil(len(self.train_split) / settings.batch_size)
        self.step = 0
        self.elapsed = 0.0
        self.order = torch.empty(0, dtype=torch.long)
        self.partners = torch.empty(0, dtype=torch.long)
        self.history: list[dict[str, Any]] = []
        self.epoch_loss = (0.0, 0)  # sum and count of this epoch's step losses so far

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.settings.epochs

    @property
    def epoch(self) -> int:
        """Epochs completed so far."""
        return self.step // self.steps_per_epoch

    def next_batch(self) -> Batch:
        within = self.step % self.steps_per_epoch
        if within == 0:  # a new epoch: a new order (and new MultiMNIST partners)
            self.order = torch.randperm(len(self.train_split), generator=self.generator)
            if self.task == "multi":
                self.partners = pair_partners(self.train_split.labels, self.generator)
        index = self.order[within * self.settings.batch_size : (within + 1) * self.settings.batch_size]
        classes = self.arch.classes
        if self.task == "multi":
            return multi_batch(self.train_split, index, self.partners[index], self.generator, classes)
        return single_batch(self.train_split, index, self.settings.shift, self.generator, classes)

    def run(self, callbacks: Sequence[TrainCallback] = ()) -> StopReason:
        """Train until ``settings.epochs`` are done; a callback returning True, or Ctrl-C, stops between steps."""
        started = time.perf_counter() - self.elapsed
        try:
            while self.step < self.total_steps:
                self.model.train()
                for group in self.optimizer.param_groups:
                    group["lr"] = self.settings.learning_rate * self.settings.lr_decay**self.epoch
                batch = _to(self.next_batch(), self.device)
                self.optimizer.zero_grad(set_to_none=True)
                loss = batch_loss(self.model, batch, self.settings)
                loss.backward()
                self.optimizer.step()
                self.step += 1
                self.elapsed = time.perf_counter() - started
                total, count = self.epoch_loss
                self.epoch_loss = (total + float(loss.detach()), count + 1)
                end = self.step % self.steps_per_epoch == 0
                if end:
                    mean = self.epoch_loss[0] / self.epoch_loss[1]
                    self.history.append({"epoch": self.epoch, "loss": mean, "seconds": round(self.elapsed, 3)})
                    self.epoch_loss = (0.0, 0)
                event = TrainEvent(self.step, self.total_steps, self.epoch + (0 if end else 1), float(loss.detach()), self.elapsed, end)
                answers = [bool(cb(event)) for cb in callbacks]  # every callback sees every step
                if any(answers):
                    return "callback"
        except KeyboardInterrupt:
            return "interrupted"
        finally:
            self.model.eval()
        return "finished"

    def evaluate(self, split: Split | None = None) -> Evaluation:
        split = self.data.test if split is None else split
        return evaluate(self.model, split, self.task, device=self.device)

    # -- resuming ------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            "architecture": self.arch.as_dict(),
            "settings": self.settings.as_dict(),
            "data": self.data.name,
            "task": self.task,
            "classes": list(self.data.classes),
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "step": self.step,
            "elapsed": self.elapsed,
            "order": self.order,
            "partners": self.partners,
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),  # the baseline's dropout draws from it
            "history": self.history,
            "epoch_loss": list(self.epoch_loss),
        }

    def resume(self, state: dict[str, Any]) -> None:
        """Continue a checkpoint of a run with the same settings and data (--epochs may grow)."""
        differences = describe_differences(state.get("settings", {}), self.settings.as_dict(), ignore=("epochs", "device"))
        if state.get("data") != self.data.name:
            differences.insert(0, f"data {state.get('data')} != {self.data.name}")
        if state.get("task") != self.task:
            differences.insert(0, f"task {state.get('task')} != {self.task}")
        if differences:
            raise CheckpointError(f"resume: the checkpoint was trained differently ({'; '.join(differences)}); use the same options")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        self.order, self.partners = state["order"], state["partners"]
        self.step, self.elapsed = int(state["step"]), float(state["elapsed"])
        self.history = list(state["history"])
        total, count = state.get("epoch_loss", (0.0, 0))
        self.epoch_loss = (float(total), int(count))


def describe_differences(saved: dict[str, Any], wanted: dict[str, Any], ignore: Sequence[str] = ()) -> list[str]:
    """``name saved != wanted`` for every setting that differs."""
    return [f"{k} {saved.get(k)} != {v}" for k, v in wanted.items() if k not in ignore and saved.get(k) != v]


def _to(batch: Batch, device: torch.device) -> Batch:
    if device.type == "cpu":
        return batch
    return Batch(
        batch.images.to(device), batch.targets.to(device), batch.labels.to(device),
        [(labels.to(device), target.to(device)) for labels, target in batch.reconstructions],
    )


# -- evaluation ---------------------------------------------------------------------------------


@dataclass
class Evaluation:
    accuracy: float  # single: the longest capsule is the class; multi: the two longest are the two digits
    confusion: Tensor  # (classes, classes): rows true class, columns predicted (single); zeros for multi
    count: int
    predictions: Tensor  # (N,) or (N, 2)


def multi_test_batches(split: Split, batch_size: int, classes: int) -> list[Batch]:
    """MultiMNIST test pairs: every test digit with one partner, placements fixed by MULTI_TEST_SEED."""
    generator = torch.Generator().manual_seed(MULTI_TEST_SEED)
    partners = pair_partners(split.labels, generator)
    return [
        multi_batch(split, index, partners[index], generator, classes)
        for index in torch.arange(len(split)).split(batch_size)
    ]


@torch.no_grad()
def evaluate(model: CapsNet | BaselineCNN, split: Split, task: Task = "single", batch_size: int = 100, device: torch.device | None = None) -> Evaluation:
    model.eval()
    device = device or next(model.parameters()).device
    classes = model.arch.classes
    confusion = torch.zeros(classes, classes, dtype=torch.long)
    if task == "multi":
        predictions, correct = [], 0
        for batch in multi_test_batches(split, batch_size, classes):
            top2 = model(batch.images.to(device)).scores.topk(2, dim=1).indices.cpu()
            correct += int((top2.sort(1).values == batch.labels.sort(1).values).all(1).sum())
            predictions.append(top2)
        count = len(split)
        return Evaluation(correct / max(count, 1), confusion, count, torch.cat(predictions) if predictions else torch.empty(0, 2))
    predictions = []
    for index in torch.arange(len(split)).split(batch_size):
        images = split.images[index].unsqueeze(1).float().div(255.0).to(device)
        predictions.append(model(images).scores.argmax(1).cpu())
    predicted = torch.cat(predictions) if predictions else torch.empty(0, dtype=torch.long)
    confusion.index_put_((split.labels, predicted), torch.ones_like(predicted), accumulate=True)
    correct = int((predicted == split.labels).sum())
    return Evaluation(correct / max(len(split), 1), confusion, len(split), predicted)


def load_model(state: dict[str, Any], device: torch.device | str = "cpu") -> CapsNet | BaselineCNN:
    """The trained model of a checkpoint's state, in eval mode."""
    arch = Architecture.from_dict(state["architecture"])
    model = build_model(arch)
    model.load_state_dict(state["model"])
    return model.to(device).eval()


def load_capsnet(state: dict[str, Any]) -> CapsNet:
    """A checkpoint's CapsNet (the figures need its capsules and decoder)."""
    model = load_model(state)
    if not isinstance(model, CapsNet):
        raise CheckpointError("checkpoint: this is the baseline CNN; pictures need a CapsNet")
    return model
