"""VGG16/VGG19 feature extractors (Simonyan & Zisserman 2014), as used by Gatys et al. 2015.

Weights are torchvision's ImageNet checkpoints, downloaded once into the torch hub cache. Only
``features.*`` is used; the classifier (most of the 500+ MB file) is ignored on purpose.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
from collections.abc import Iterator
from typing import cast

import torch
from torch import Tensor, nn

from ..errors import ModelError, PainterlyError
from ..outputs import write_atomically
from ..params import DEFAULT_MODEL
from .base import Backbone, WeightsInfo, one_line

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_CONVS_PER_STAGE = {16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}
_STAGE_CHANNELS = (64, 128, 256, 512, 512)
_FILES = {16: "vgg16-397923af.pth", 19: "vgg19-dcbb9e9d.pth"}  # name-sha256prefix.pth
WEIGHTS = {
    depth: WeightsInfo(
        source="download.pytorch.org (torchvision format)",
        url=f"https://download.pytorch.org/models/{filename}",
        sha256_prefix=filename.split("-")[1].split(".")[0],
        licence="BSD-3-Clause (torchvision model weights)",
        filename=filename,
    )
    for depth, filename in _FILES.items()
}


class VGG(Backbone):
    """Every module of ``features`` is a tap: conv1_1, relu1_1, ..., pool5."""

    def __init__(self, depth: int, pooling: str = "max") -> None:
        super().__init__(f"vgg{depth}", IMAGENET_MEAN, IMAGENET_STD)
        self.depth = depth
        modules: list[nn.Module] = []
        self._tap_names: list[str] = []
        cin = 3
        for stage, (convs, cout) in enumerate(zip(_CONVS_PER_STAGE[depth], _STAGE_CHANNELS), 1):
            for j in range(1, convs + 1):
                # Not in-place: a returned conv activation must not be overwritten by its ReLU.
                modules += [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU()]
                self._tap_names += [f"conv{stage}_{j}", f"relu{stage}_{j}"]
                cin = cout
            # Average pooling (Gatys et al.'s suggestion) has no weights, so indices and
            # state-dict keys stay those of torchvision either way.
            modules.append(nn.MaxPool2d(2, 2) if pooling == "max" else nn.AvgPool2d(2, 2))
            self._tap_names.append(f"pool{stage}")
        self.features = nn.Sequential(*modules)
        self.layers = self._describe_layers()
        self.default_content_layers = {"relu4_2": 1.0}
        self.default_style_layers = dict.fromkeys(["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"], 1.0)

    def _taps(self, x: Tensor) -> Iterator[tuple[str, Tensor]]:
        for name, module in zip(self._tap_names, self.features):
            x = module(x)
            yield name, x

    def _layer_plan(self) -> Iterator[tuple[str, str, list[nn.Module]]]:
        for name, module in zip(self._tap_names, self.features):
            yield name, name.rstrip("0123456789_"), [module]

    def _drop_modules_after(self, name: str) -> None:
        self.features = cast(nn.Sequential, self.features[: self._tap_names.index(name) + 1])


def _filename(depth: int) -> str:
    name = WEIGHTS[depth].filename
    assert name is not None  # every VGG entry names its file
    return name


def cache_dir() -> str:
    return os.path.join(torch.hub.get_dir(), "checkpoints")


def weights_available(depth: int) -> bool:
    return os.path.isfile(os.path.join(cache_dir(), _filename(depth)))


def verify_cached_weights(path: str, sha256_prefix: str) -> None:
    """Check a cached weights file against its published sha256 prefix, once per file version.

    torch.hub checks the hash only when it downloads: a file replaced or damaged later (same
    keys and shapes, other values) was used silently. The first use hashes it (about a second
    for VGG-19's 548 MB) and records its (size, mtime) beside it; later runs compare those only.
    """
    record_path = path + ".verified"
    st = os.stat(path)
    stamp = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256_prefix": sha256_prefix}
    try:
        with open(record_path) as f:
            if json.load(f) == stamp:
                return
    except (OSError, ValueError):
        pass
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    if not digest.hexdigest().startswith(sha256_prefix):
        raise ModelError(
            f"{path}: sha256 {digest.hexdigest()[:12]}… does not match the published {sha256_prefix}; "
            "the file is damaged or not the expected weights: delete it to download it again"
        )
    with contextlib.suppress(PainterlyError):  # a read-only cache is verified again next time
        write_atomically(record_path, json.dumps(stamp).encode())


def _fetch_state_dict(depth: int) -> dict[str, Tensor]:
    info, directory = WEIGHTS[depth], cache_dir()
    assert info.url and info.filename and info.sha256_prefix  # every VGG entry has all three
    path = os.path.join(directory, info.filename)
    was_cached = os.path.isfile(path)
    if was_cached:
        verify_cached_weights(path, info.sha256_prefix)
    try:
        # Reads the cached file if present; otherwise downloads it and checks the sha256 prefix.
        return torch.hub.load_state_dict_from_url(
            info.url, model_dir=directory, map_location="cpu", progress=False,
            check_hash=True, weights_only=True,
        )
    except (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError) as err:
        if was_cached:
            raise ModelError(f"cannot read vgg{depth} weights {path} ({one_line(err)}); delete it "
                             f"and download {info.url} again into {directory}") from err
        raise ModelError(
            f"vgg{depth} weights {info.filename} are not in {directory} and could not be downloaded "
            f"({one_line(err)}); download {info.url} into that directory, or use "
            f"--model {DEFAULT_MODEL}, which needs no download"
        ) from err


def load_weights(model: VGG) -> None:
    state = _fetch_state_dict(model.depth)
    path = os.path.join(cache_dir(), _filename(model.depth))
    features = {}
    for key, value in state.items():
        if key.startswith("features."):
            features[key[len("features."):]] = value
        elif not key.startswith("classifier."):  # the classifier is not needed for style transfer
            raise ModelError(f"{path} is not a torchvision vgg{model.depth} state dict: unexpected key {key!r}")
    try:
        model.features.load_state_dict(features, strict=True)
    except RuntimeError as err:
        raise ModelError(f"{path} does not fit vgg{model.depth}: {one_line(err)}") from err
