"""The `capsnet` command as a user runs it: tiny networks, the shipped digits, generated bad files."""

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from capsnet.cli import main
from capsnet.data import load_data

from imagegen import opened

TINY = ["--conv1-channels", "8", "--primary-types", "2", "--batch-size", "20", "--epochs", "1", "--eval-every", "0", "-q"]
SRC = str(Path(__file__).resolve().parents[1] / "src")


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """`idx:DIR` of 200 training and 100 test digits from the shipped ones, so evaluations are quick."""
    digits = load_data("mnist5k")
    folder = tmp_path_factory.mktemp("idx")
    for prefix, split in (("train", digits.train.subset(200)), ("t10k", digits.test.subset(100))):
        n = len(split)
        (folder / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 0x803, n, 28, 28) + split.images.numpy().tobytes())
        (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x801, n) + split.labels.numpy().astype(np.uint8).tobytes())
    return f"idx:{folder}"


@pytest.fixture(scope="module")
def trained(tmp_path_factory, small):
    """One tiny CapsNet trained through the CLI."""
    path = tmp_path_factory.mktemp("cli") / "digits.pt"
    assert main(["train", "--data", small, "-o", str(path), "--json", *TINY]) == 0
    return path


@pytest.mark.slow
def test_train_json_and_eval_agree(trained, capsys, small):
    code, out, _ = run(capsys, "train", "--data", small, "--train-limit", "40", "-o", trained.parent / "b.pt", "--json", *TINY)
    report = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and 0.0 <= report["test_accuracy"] <= 1.0 and report["seconds"] > 0
    assert report["train_images"] == 40 and report["test_images"] == 100
    code, out, _ = run(capsys, "eval", trained, "--json")
    result = json.loads(out)
    confusion = np.array(result["confusion"])
    assert code == 0 and confusion.sum(1).tolist() == load_data(small).test.labels.bincount(minlength=10).tolist()
    assert result["test_accuracy"] == pytest.approx(np.trace(confusion) / confusion.sum())
    code, out, _ = run(capsys, "eval", trained)
    assert code == 0 and "confusion matrix" in out and len(out.splitlines()) == 13


@pytest.mark.slow
def test_train_refuses_to_overwrite_and_resume_refuses_another_architecture(trained, capsys, small):
    before = trained.read_bytes()
    code, _, err = run(capsys, "train", "--data", small, "-o", trained, *TINY)
    assert code == 2 and "exists; pass --resume" in err
    code, _, err = run(capsys, "train", "--data", small, "-o", trained, "--resume", *TINY, "--conv1-channels", "16")
    assert code == 2 and "conv1_channels 8 != 16" in err and len(err.strip().splitlines()) == 1
    assert trained.read_bytes() == before


def test_perturbation_sheet_has_16_rows_of_11_decodes_that_change_along_the_row(trained, tmp_path, capsys):
    out = tmp_path / "sheet.png"
    code, _, _ = run(capsys, "perturb", trained, "-o", out, "--count", "2")
    assert code == 0
    sheet = np.asarray(opened(out).convert("L"), dtype=float)
    tile, gap, margin, header = 56, 4, 40, 14
    assert sheet.shape == (header + 32 * (tile + gap), margin + 12 * (tile + gap))

    def cell(row, col):
        y, x = header + row * (tile + gap), margin + col * (tile + gap)
        return sheet[y : y + tile, x : x + tile]

    assert cell(0, 0).max() > 200 and cell(1, 0).max() == 0  # the input once per digit
    # Decodes differ between -0.25 (column 1) and +0.25 (column 11) in some dimension.
    assert max(np.abs(cell(r, 1) - cell(r, 11)).max() for r in range(16)) > 0


def test_reconstruct_writes_inputs_above_reconstructions(trained, tmp_path, capsys):
    out = tmp_path / "recon.png"
    assert run(capsys, "reconstruct", trained, "-o", out, "--count", "4")[0] == 0
    assert opened(out).size == (40 + 4 * 60, 14 + 2 * 60)
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # atomic, yet not private like a temp file
    code, _, err = run(capsys, "reconstruct", trained, "-o", tmp_path / "recon.jpg")
    assert code == 2 and "should end in .png" in err


@pytest.mark.slow
def test_multimnist_train_eval_show(tmp_path, capsys, trained, small):
    path = tmp_path / "multi.pt"
    code, out, _ = run(capsys, "multi", "train", "--data", small, "--train-limit", "60", "-o", path, "--json", *TINY)
    report = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and report["task"] == "multi" and 0.0 <= report["test_accuracy"] <= 1.0
    code, out, _ = run(capsys, "multi", "eval", path, "--json")
    assert code == 0 and json.loads(out)["test_accuracy"] == report["test_accuracy"]
    picture = tmp_path / "pairs.png"
    assert run(capsys, "multi", "show", path, "-o", picture, "--count", "3")[0] == 0
    rgb = np.asarray(opened(picture).convert("RGB"))
    overlays = rgb[14 + 76 : 14 + 76 + 72, 40:]  # the second row: red and green reconstructions
    assert overlays[..., 0].max() > 0 and overlays[..., 1].max() > 0 and overlays[..., 2].max() == 0
    code, _, err = run(capsys, "perturb", path, "-o", tmp_path / "p.png")
    assert code == 2 and "image_size 36 != 28" in err
    code, _, err = run(capsys, "multi", "show", trained, "-o", tmp_path / "p.png")
    assert code == 2 and "image_size 28 != 36" in err


@pytest.mark.slow
def test_bad_inputs_get_one_line_and_exit_2_before_any_work(tmp_path, capsys):
    folder = tmp_path / "idx"
    folder.mkdir()
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (folder / name).write_bytes(bytes.fromhex("00000803 00000005 0000001c 0000001c") + b"\x00" * 100)  # 5 images? only 100 bytes
    junk = tmp_path / "junk.pt"
    junk.write_bytes(os.urandom(300))
    for argv, words in (
        (["train", "--data", "idx:" + str(tmp_path / "none"), "-o", tmp_path / "x.pt"], "is not a folder"),
        (["eval", junk], "junk.pt: not a readable capsnet checkpoint"),
        (["train", "--conv1-channels", "0", "-o", tmp_path / "x.pt"], "conv1_channels: 0 is below the minimum 8"),
        (["perturb", junk, "-o", tmp_path / "x.png"], "junk.pt: not a readable capsnet checkpoint"),
    ):
        code, _, err = run(capsys, *argv)
        assert code == 2 and words in err and len(err.strip().splitlines()) == 1
    # The installed command itself: exit status 2, one line, no traceback.
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    argv = ["train", "--data", f"idx:{folder}", "-o", str(tmp_path / "x.pt")]
    done = subprocess.run([sys.executable, "-m", "capsnet", *argv], capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().endswith("train-images-idx3-ubyte: 116 bytes, but its header (5, 28, 28) needs 3936 (truncated or padded)")
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.pt").exists() and not (tmp_path / "x.png").exists()
