"""Capsule networks with dynamic routing (Sabour, Frosst & Hinton 2017), trained offline on a CPU.

A reference implementation to read and run: the model (:mod:`capsnet.layers`, :mod:`capsnet.model`),
offline data (:mod:`capsnet.data`), the training loop (:mod:`capsnet.train`) and the paper's
figures (:mod:`capsnet.figures`). It does not use painterly, and painterly does not use it.
"""

from .data import DataSet, Split, load_data
from .layers import margin_loss, route, squash
from .model import Architecture, BaselineCNN, CapsNet, build_model
from .settings import TrainSettings
from .train import Evaluation, Trainer, evaluate

__version__ = "0.1.0"
__all__ = [
    "Architecture", "BaselineCNN", "CapsNet", "DataSet", "Evaluation", "Split", "TrainSettings", "Trainer",
    "build_model", "evaluate", "load_data", "margin_loss", "route", "squash",
]
