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
