"""Shared fixtures: small generated images, so tests never depend on files outside the repo."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imagegen import stripes

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def cat_path() -> Path:
    return DATA / "cat.jpg"


@pytest.fixture
def stripes_path(tmp_path) -> Path:
    path = tmp_path / "stripes.png"
    arr = (stripes(96, 96)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    Image.fromarray(arr).save(path)
    return path


@pytest.fixture
def style_file(tmp_path) -> Path:
    """A small fast style with random weights, laid out as the shipped ones are (a full-resolution
    stage with the photo skip, so `fast apply` takes the polyphase graph), for test_fast and
    test_hardening."""
    import torch

    from painterly.fast.model_file import FastStyle, style_to_bytes
    from painterly.fast.network import Architecture, TransformNet

    torch.manual_seed(0)
    path = tmp_path / "random.painterly"
    path.write_bytes(style_to_bytes(FastStyle(TransformNet(Architecture(width=4, blocks=1, full_width=4, photo_skip=1)), "random", {"steps": 0})))
    return path


@pytest.fixture(autouse=True, scope="session")
def _onnx_cache_in_a_temporary_folder(tmp_path_factory):
    """`fast apply` caches exported ONNX graphs; the tests must not fill the user's ~/.cache."""
    import os

    previous = os.environ.get("PAINTERLY_CACHE")
    os.environ["PAINTERLY_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if previous is None:
        os.environ.pop("PAINTERLY_CACHE", None)
    else:
        os.environ["PAINTERLY_CACHE"] = previous
