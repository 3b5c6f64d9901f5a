"""painterly explain: receptive-field crops, top-k bookkeeping, inversion, DeepDream, CLI errors."""

import json
import math
import random
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from painterly.backbones import Backbone, create_backbone
from painterly.cli import main
from painterly.errors import ImageError, ModelError, ParameterError
from painterly.explain import dream, dream_score, invert, receptive_window, top_patches
from painterly.explain.common import prepared
from painterly.explain.deepdream import _NormaliseGrad
from painterly.explain.inversion import content_objective, style_objective
from painterly.explain.topk import TopK
from painterly.explain.units import UnitScores, tile_square
from painterly.io import load_image, to_pil

from geometry import linearised
from imagegen import opened

CAT = Path(__file__).parent / "data" / "cat.jpg"


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny tensors gain nothing from a second thread, and on a CPU shared with other jobs the
    OpenMP threads' spin-waiting made this file 15x slower (180 s instead of 11 s)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def lite0():
    return create_backbone("efficientnet-lite0", cut_after="b11.out")


def random_backbone(name, cut_after):
    torch.manual_seed(0)
    return create_backbone(name, load_weights=False, cut_after=cut_after).double()


# --------------------------------------------------------------------------------------------
# Receptive-field crops, checked by perturbing pixels


@pytest.mark.slow
@pytest.mark.parametrize("name,layers,size", [
    ("efficientnet-lite0", ["stem", "b1.dw", "b3.dw", "b5.out", "b11.dw"], (57, 81)),  # odd on purpose
    ("vgg19", ["relu1_1", "pool1", "relu3_1", "pool3"], (37, 49)),  # VGG in float64 is slow: smaller
])
def test_crop_box_holds_every_pixel_that_changes_the_unit(name, layers, size):
    for linear in (False, True):
        model = random_backbone(name, layers[-1])
        model = linearised(model) if linear else model
        for layer in layers:
            info = model.layers[layer]
            # An odd-sized photo goes through the same resizing as `units` (sides -> stride multiples).
            image = prepared(torch.rand(1, 3, *size, dtype=torch.float64), max(size), info.stride, "test")
            hw = image.shape[-2:]
            rows, cols = math.ceil(hw[0] / max(info.stride, 1)), math.ceil(hw[1] / max(info.stride, 1))
            units = sorted({(0, 0), (rows // 2, cols // 2), (rows - 1, cols - 1)})
            # One batch: the image, then per unit the image with every pixel outside the unit's box
            # replaced, then with each corner pixel of the box poked.
            batch, boxes = [image], []
            for row, col in units:
                top, left, bottom, right = receptive_window(info, row, col, hw).clipped(hw)
                boxes.append((top, left, bottom, right))
                outside = torch.ones(hw, dtype=torch.bool)
                outside[top:bottom, left:right] = False
                batch.append(torch.where(outside, torch.rand_like(image), image))
                for y, x in [(top, left), (top, right - 1), (bottom - 1, left), (bottom - 1, right - 1)]:
                    poked = image.clone()
                    poked[0, :, y, x] += 1.0
                    batch.append(poked)
            with torch.no_grad():
                out = model(torch.cat(batch), [layer])[layer]
            assert out.shape[-2:] == (rows, cols)
            for i, (row, col) in enumerate(units):
                base, first = out[0, :, row, col], 1 + 5 * i
                # Nothing outside the box may move the unit, not even by a rounding error.
                assert torch.equal(out[first, :, row, col], base), (layer, row, col, boxes[i])
                if linear:  # tight: each corner pixel does move it (no ReLU zeros to hide it)
                    for j in range(1, 5):
                        assert not torch.allclose(out[first + j, :, row, col], base, rtol=0, atol=1e-12), (layer, j)


def test_window_is_centred_on_the_unit_and_tiles_hold_the_box():
    info = create_backbone("efficientnet-lite0", load_weights=False).layers["b3.dw"]  # rf 35, stride 8, offset 7
    window = receptive_window(info, 2, 0, (64, 96))
    assert (window.top, window.left, window.side) == (7 + 16 - 17, 7 - 17, 35)
    box = window.clipped((64, 96))
    assert box == (6, 0, 41, 25)
    square = tile_square(window, box)
    # As centred as possible, inside the window, holding the box: grey stays on the left.
    assert (square.top, square.left, square.side) == (6, -10, 35)
    deep = create_backbone("efficientnet-lite0", load_weights=False).layers["b11.dw"]  # rf 403 > image
    w = receptive_window(deep, 1, 1, (64, 96))
    assert w.clipped((64, 96)) == (0, 0, 64, 96)
    assert tile_square(w, w.clipped((64, 96))).side == 96  # the image, not 403 px of grey


# --------------------------------------------------------------------------------------------
# Top-k bookkeeping


def reference_topk(stream, k):
    """stream: list of (C, H, W) maps in order -> per unit [(value, image, row, col)] by the documented rules."""
    result = []
    for unit in range(stream[0].shape[0]):
        best = []
        for index, acts in enumerate(stream):
            flat = acts[unit].flatten().tolist()
            value = max(v for v in flat if not math.isnan(v)) if any(not math.isnan(v) for v in flat) else None
            if value is None:
                continue
            where = flat.index(value)  # first in row-major order
            best.append((value, index, where // acts.shape[2], where % acts.shape[2]))
        best.sort(key=lambda e: -e[0])  # stable: earlier images first among equal values
        result.append(best[:k])
    return result


def test_topk_keeps_the_true_top_k_over_a_stream_with_ties_and_duplicates():
    gen = torch.Generator().manual_seed(1)
    # Few distinct values, so ties within a map and across images are everywhere.
    stream = [torch.randint(0, 6, (4, 3, 5), generator=gen).float() for _ in range(40)]
    stream[7] = stream[3].clone()  # a duplicate picture
    stream[11][2] = float("nan")  # a map of NaNs never enters
    stream[12][1, 0, 0] = float("nan")
    stream[20][0, 2, 4] = 100.0  # a clear winner late in the stream
    expected = reference_topk(stream, 9)
    for batch in (1, 3, 7):  # the batching of the stream must not matter
        top = TopK(4, 9)
        for start in range(0, len(stream), batch):
            top.update(torch.stack(stream[start:start + batch]), start)
        for unit in range(4):
            assert top.entries(unit) == expected[unit], (batch, unit)
    assert top.entries(0)[0] == (100.0, 20, 2, 4)
    assert all(entry[1] != 11 for unit in range(4) for entry in top.entries(unit) if unit == 2)


def test_topk_with_fewer_images_than_k_reports_only_real_entries():
    top = TopK(2, 9)
    top.update(torch.tensor([[1.0, 2.0], [3.0, float("nan")]]), 0)  # a global (B, C) layer
    assert top.entries(0) == [(3.0, 1, 0, 0), (1.0, 0, 0, 0)]
    assert top.entries(1) == [(2.0, 0, 0, 0)]


class PixelNet(Backbone):
    """A hand-made backbone: the pixels themselves (stride 1) and 2x2 average pooling (stride 2)."""

    def __init__(self):
        super().__init__("pixels", (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
        self.pool = nn.AvgPool2d(2, 2)
        self.layers = self._describe_layers()

    def _taps(self, x):
        yield "pixels", x
        yield "pool", self.pool(x)

    def _layer_plan(self):
        yield "pixels", "conv", []
        yield "pool", "pool", [self.pool]


def dot_image(path, value, y, x, size=40):
    """Grey 0.2 everywhere, a red dot of ``value`` at (y, x): the red unit's top spot is known."""
    pixels = torch.full((1, 3, size, size), 0.2)
    pixels[0, 0, y, x] = value
    to_pil(pixels).save(path)  # PNG: lossless, so the values survive (to 1/255)


def test_top_patches_finds_the_brightest_dots_one_per_image(tmp_path):
    rng = random.Random(0)
    spots = []
    for i in range(12):
        value = [0.4, 0.6, 0.6, 0.8, 1.0][i % 5]  # ties between images on purpose
        y, x = rng.randrange(40), rng.randrange(40)
        dot_image(tmp_path / f"{i:02d}.png", value, y, x)
        spots.append((value, i, y, x))
    (tmp_path / "broken.png").write_bytes(b"not a png")  # sorted last: stream indices stay 0..11
    warnings = []
    result = top_patches(tmp_path, "pixels", model=PixelNet(), units=[0], k=4, size=40, batch_size=5,
                         warn=warnings.append)
    assert len(warnings) == 1 and "broken.png" in warnings[0] and result.skipped == warnings
    expected = sorted(spots, key=lambda s: -s[0])[:4]  # ties: earlier file first
    got = result.patches[0]
    assert [(p.source, p.position) for p in got] == [
        (str(tmp_path / f"{i:02d}.png"), (y, x)) for _, i, y, x in expected]
    for patch, (value, _, y, x) in zip(got, expected):
        assert patch.box == (y, x, y + 1, x + 1)
        assert patch.activation == pytest.approx(value, abs=1 / 255)
        assert patch.pixels[0, 0, 0].item() == pytest.approx(value, abs=1 / 255)
    # The pooled layer: the dot's 2x2 cell; the crop is that cell of the image.
    pooled = top_patches(tmp_path, "pool", model=PixelNet(), units=[0], k=1, size=40, warn=lambda m: None)
    (_, i, y, x), patch = expected[0], pooled.patches[0][0]
    assert patch.position == (y // 2, x // 2)
    assert patch.box == (y // 2 * 2, x // 2 * 2, y // 2 * 2 + 2, x // 2 * 2 + 2)
    assert patch.pixels.shape == (3, 2, 2) and patch.pixels[0].max().item() == pytest.approx(1.0, abs=1 / 255)


def test_default_units_are_those_with_the_highest_peaks(tmp_path):
    for i in range(3):
        pixels = torch.full((1, 3, 36, 36), 0.1)
        pixels[0, 2, 5, 5] = 0.9  # blue peaks highest, then green, red lowest
        pixels[0, 1, 6, 6] = 0.5
        to_pil(pixels).save(tmp_path / f"{i}.png")
    result = top_patches(tmp_path, "pixels", model=PixelNet(), units=2, size=36)
    assert result.units == [2, 1]
    assert result.peaks.tolist() == pytest.approx([0.1, 0.5, 0.9], abs=1 / 255)
    assert result.images_seen == 3 and len(result.patches[2]) == 3


def test_unit_scores_read_through_relu6_and_match_the_tap_below_6(lite0):
    image = F.interpolate(load_image(CAT), size=(48, 64), mode="area")
    for layer, capped in [("b1.dw", True), ("b3.out", False)]:
        with torch.no_grad():
            tap = lite0(image, [layer])[layer]
        scores = UnitScores(lite0, layer)(image)
        if capped:
            assert torch.equal(scores.clamp(0, 6), tap) and (scores > 6).any()
        else:
            assert torch.equal(scores, tap)


# --------------------------------------------------------------------------------------------
# Errors users can cause


def test_bad_folders_units_and_layers_give_one_line_errors(tmp_path, lite0):
    with pytest.raises(ImageError, match="no such folder"):
        top_patches(tmp_path / "missing", "stem", model=lite0)
    (tmp_path / "notes.txt").write_text("no pictures here")
    with pytest.raises(ImageError, match="no image files"):
        top_patches(tmp_path, "stem", model=lite0)
    (tmp_path / "zero.jpg").write_bytes(b"")
    with pytest.raises(ImageError, match="none of the 1 image files could be read"):
        top_patches(tmp_path, "stem", model=lite0, warn=lambda m: None)
    dot_image(tmp_path / "ok.png", 1.0, 3, 3)
    with pytest.raises(ParameterError, match="32 out of range; layer stem has 32 units, numbered 0 to 31"):
        top_patches(tmp_path, "stem", model=lite0, units=[3, 32])
    with pytest.raises(ModelError, match="did you mean 'b3.dw'"):
        top_patches(tmp_path, "b3.dx", model=lite0)
    with pytest.raises(ParameterError, match="unit: 999 out of range"):
        dream(CAT, "b3.out", unit=999, model=lite0)


@pytest.mark.slow
def test_cli_reports_bad_input_in_one_line_and_writes_a_sheet(tmp_path, capsys):
    folder = tmp_path / "pics"
    folder.mkdir()
    cat = F.interpolate(load_image(CAT), size=(48, 64), mode="area")
    for i in range(3):
        to_pil(cat.flip(-1) if i == 1 else cat).save(folder / f"{i}.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    out, meta = tmp_path / "units.png", tmp_path / "units.json"
    assert main(["explain", "units", "--images", str(folder), "--layer", "stem", "--num-units", "4",
                 "--size", "64", "-o", str(out), "--metadata", str(meta), "-q"]) == 0
    err = capsys.readouterr().err
    assert "warning: skipped" in err and "broken.jpg" in err and "Traceback" not in err
    data = json.loads(meta.read_text())
    assert data["layer"] == "stem" and len(data["units"]) == 4
    assert all(len(u["patches"]) == 3 for u in data["units"])  # one per readable image
    assert opened(out).size[0] > 4 * 3 * 3 * 4  # 4 units of 3x3 tiles
    # Without -q: the progress bar runs on the loop's events and a summary line follows.
    assert main(["explain", "dream", str(folder / "0.png"), "--layer", "b1.out", "--size", "48",
                 "--octaves", "1", "--steps", "2", "-o", str(tmp_path / "dream.png")]) == 0
    assert "mean square activation" in capsys.readouterr().err and (tmp_path / "dream.png").exists()
    for argv, message in [
        (["units", "--images", str(folder), "--layer", "b3.dx"], "did you mean 'b3.dw'"),
        (["units", "--images", str(folder), "--units", "3,999"], "999 out of range"),
        (["units", "--images", str(tmp_path / "nope")], "no such folder"),
        (["dream", str(folder / "broken.jpg")], "broken.jpg"),
        (["invert", str(folder / "0.png"), "--content-layers", "stem,b3.dx"], "did you mean"),
    ]:
        assert main(["explain", *argv, "-o", str(tmp_path / "x.png"), "-q"]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err


# --------------------------------------------------------------------------------------------
# Each tool moves its objective the right way


@pytest.mark.slow
def test_invert_lowers_each_objective_and_stem_content_approaches_the_photo(lite0):
    photo = F.interpolate(load_image(CAT), size=(40, 48), mode="area")
    result = invert(photo, model=lite0, size=48, content_layers=["stem", "b3.dw"],
                    style_layers=["stem", "b1.dw"], iterations=25, tv_weight=0.0)
    assert [r.layers for r in result.content] == [("stem",), ("b3.dw",)]
    assert [r.layers for r in result.style] == [("stem",), ("stem", "b1.dw")]
    noise = torch.rand(1, 3, 40, 48, generator=torch.Generator().manual_seed(0))
    target = result.image
    for rec in result.content + result.style:
        build = content_objective if rec.kind == "content" else style_objective
        objective = build(lite0, target, rec.layers)
        with torch.no_grad():
            before, after = float(objective(noise)[0]), float(objective(rec.image)[0])
        assert after < 0.5 * before, rec.layers  # measured independently of the loop's bookkeeping
        assert rec.loss == pytest.approx(after, rel=1e-4) and rec.start_loss == pytest.approx(before, rel=1e-4)
    # The stem keeps the pixels: matching its features alone brings the noise towards the photo.
    assert (result.content[0].image - target).abs().mean() < 0.75 * (noise - target).abs().mean()
    sheet = result.sheet(cell=48)
    assert sheet.shape[-1] > 3 * 48 and sheet.shape[-2] > 2 * 40


@pytest.mark.slow
def test_dream_raises_the_layer_and_the_unit_score(lite0):
    photo = F.interpolate(load_image(CAT), size=(48, 64), mode="area")
    out = dream(photo, "b3.out", model=lite0, size=64, octaves=2, steps=5, jitter=4, strength=3)
    with torch.no_grad():
        before = float(dream_score(lite0, photo, "b3.out"))
    assert out.start_score == pytest.approx(before, rel=1e-4)
    assert out.score > 1.5 * out.start_score
    assert out.image.shape == photo.shape and 0 <= out.image.min() and out.image.max() <= 1
    unit = dream(photo, "b3.out", unit=5, model=lite0, size=64, octaves=1, steps=5)
    assert unit.score > 1.5 * unit.start_score
    with torch.no_grad():  # the unit's own activation rose more than the layer's as a whole did
        layer_gain = float(dream_score(lite0, unit.image, "b3.out")) / before
    assert unit.score / unit.start_score > layer_gain


def test_stopped_runs_return_what_they_have_at_full_size(lite0):
    photo = F.interpolate(load_image(CAT), size=(48, 64), mode="area")
    stop_at_2 = lambda event: event.step >= 2  # noqa: E731
    out = dream(photo, "b3.out", model=lite0, size=64, octaves=2, steps=3, callbacks=[stop_at_2])
    assert out.stopped == "callback" and out.steps == 2 and out.image.shape == photo.shape
    assert out.score > out.start_score  # the small octave's detail, carried to full size, still counts
    rec = invert(photo, model=lite0, size=64, content_layers=["stem", "b1.dw"], style_layers=["stem"],
                 iterations=3, callbacks=[lambda event: event.step >= 4])
    assert rec.stopped == "callback" and [r.layers for r in rec.content] == [("stem",), ("b1.dw",)]
    assert rec.style == [] and rec.content[1].steps == 1


def test_normalised_gradient_has_unit_mean_magnitude():
    x = torch.rand(1, 3, 8, 8, requires_grad=True)
    (_NormaliseGrad.apply(x) * 1000 * torch.arange(192.0).view(1, 3, 8, 8)).sum().backward()
    assert x.grad.abs().mean().item() == pytest.approx(1.0, rel=1e-5)
