"""The fast path: network shapes, .painterly files, training, applying, ONNX, folders and video."""

import os
import time

import av
import numpy as np
import onnxruntime
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from painterly.cli import main
from painterly.colors import rgb_to_yiq
from painterly.errors import ModelError, ParameterError
from painterly.fast.apply import FastStylizer
from painterly.fast.folders import plan_jobs
from painterly.fast.library import find_style, shipped_styles
from painterly.fast.model_file import load_style, style_to_bytes
from painterly.fast.network import MARGIN, Architecture, TransformNet, pad
from painterly.fast.settings import TrainSettings
from painterly.fast.train import Trainer
from painterly.fast.video import TemporalSmoother
from painterly.io import load_image

from imagegen import make_hostile, opened, photo, stripes
from videogen import make_video

# Without the teacher (which paints every photo with `stylize` first): these tests are about the
# loss, the schedule and the files; the teacher's own tests are below.
TINY = TrainSettings(steps=6, batch_size=2, crop_size=64, photo_size=96, style_size=64, width=4, blocks=1, device="cpu",
                     teacher="none")


def run(argv, capsys):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err




def _ramp(h=48, w=72):
    return torch.from_numpy(np.asarray(photo(w, h), dtype=np.float32) / 255).permute(2, 0, 1)[None]


# -- network ----------------------------------------------------------------------------------


@pytest.mark.parametrize("h, w", [(64, 64), (37, 53), (70, 101), (9, 300)])
def test_network_keeps_any_size_and_the_pixel_range(h, w):
    net = TransformNet(Architecture(width=4, blocks=1)).eval()
    out = net(torch.rand(1, 3, h, w))
    assert out.shape == (1, 3, h, w)
    assert out.min() >= 0 and out.max() <= 1
    padded = pad(torch.rand(1, 3, h, w))
    assert padded.shape[-2] % 8 == 0 and padded.shape[-1] % 8 == 0
    assert padded.shape[-2] >= h + 2 * MARGIN and padded.shape[-1] >= w + 2 * MARGIN


def test_padding_reflects_the_border():
    image = torch.rand(1, 3, 40, 48)
    padded = pad(image)
    # The row MARGIN-1 above the first image row mirrors row 1 (reflection excludes the edge).
    assert torch.equal(padded[..., MARGIN - 1, MARGIN : MARGIN + 48], image[..., 1, :])
    assert torch.equal(padded[..., MARGIN : MARGIN + 40, MARGIN : MARGIN + 48], image)


@pytest.mark.parametrize("full_width", [0, 4])
def test_the_last_layers_zero_padding_leaves_the_picture_as_reflection_does(full_width):
    # to_rgb pads with zeros (fused into the convolution, cheaper in ONNX Runtime); its border
    # pixels fall in the cropped margin, so the picture is what reflection padding gives, exactly.
    torch.manual_seed(0)
    net = TransformNet(Architecture(width=4, blocks=1, full_width=full_width)).eval()
    reflecting = TransformNet(Architecture(width=4, blocks=1, full_width=full_width)).eval()
    reflecting.load_state_dict(net.state_dict())
    reflecting.to_rgb.padding_mode = "reflect"
    image = torch.rand(1, 3, 37, 45)
    with torch.no_grad():
        assert torch.equal(net(image), reflecting(image))
        # ...and the padding does differ where it is cropped, so the test would see a wider reach.
        assert not torch.equal(net.padded_forward(pad(image)), reflecting.padded_forward(pad(image)))


# -- files ------------------------------------------------------------------------------------


def test_style_file_round_trip_keeps_pictures_and_info(style_file):
    style = load_style(style_file)
    assert style.name == "random" and style.info == {"steps": 0}
    assert style.network.arch == Architecture(width=4, blocks=1, full_width=4, photo_skip=1)
    assert not any(p.requires_grad for p in style.network.parameters())
    again = load_style(_resave(style, style_file.parent / "again.painterly"))
    image = _ramp()
    with torch.no_grad():
        assert (style.network(image) - again.network(image)).abs().max() < 1e-6  # already float16


def _resave(style, path):
    path.write_bytes(style_to_bytes(style))
    return path


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "not a painterly style file"),
        (b"this is text\n", "not a painterly style file"),
        ("truncated", "not a painterly style file"),
        ("checkpoint", "not a painterly style file"),
        ("future", "upgrade painterly"),
        ("wrong_weights", "do not fit"),
    ],
)
def test_files_that_are_not_usable_styles_get_one_line(tmp_path, style_file, content, message):
    path = tmp_path / "bad.painterly"
    if content == "truncated":
        data = style_file.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif content in ("checkpoint", "future", "wrong_weights"):
        payload = torch.load(style_file, weights_only=True)
        if content == "checkpoint":
            payload["format"] = "painterly-fast-checkpoint"
        elif content == "future":
            payload["format_version"] = 99
        else:
            payload["architecture"] = {"width": 8, "blocks": 1}
        torch.save(payload, path)
    else:
        path.write_bytes(content)
    with pytest.raises(ModelError) as err:
        load_style(path)
    assert message in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)


def test_unknown_style_name_suggests_a_shipped_one():
    names = list(shipped_styles())
    assert names, "painterly ships styles"
    with pytest.raises(ModelError, match="did you mean"):
        find_style(names[0][:-1] + "x")


# -- training ---------------------------------------------------------------------------------


def _photos():
    return [_ramp(96, 128), stripes(80, 120) * 0.5 + 0.25]


@pytest.mark.slow
def test_training_lowers_the_loss_on_a_fixed_batch():
    trainer = Trainer(stripes(64, 64), _photos(), _with(TINY, steps=30, learning_rate=0.01))
    batch = trainer.batch()
    with torch.no_grad():
        before = float(trainer.loss(*batch)[0])
    assert trainer.run() == "finished"
    with torch.no_grad():
        after = float(trainer.loss(*batch)[0])
    assert after < 0.8 * before


@pytest.mark.slow
def test_the_shading_term_pulls_the_networks_light_and_shade_to_the_target():
    # Trained with the term, the network's blurred luminance ends closer to the crops' target
    # (the photo's light and dark in the painting's tones) than trained without it.
    from painterly.shading import ShadingLoss, shading_target

    errors = {}
    for weight in (0.0, 20.0):
        trainer = Trainer(stripes(64, 64), _photos(), _with(TINY, steps=30, learning_rate=0.01, shading_weight=weight))
        batch, _ = trainer.batch()
        assert ("shading" in trainer.loss(batch)[1]) == (weight > 0)
        trainer.run()
        with torch.no_grad():
            target = shading_target(batch, trainer.style_tones, trainer.settings.photo_size)
            errors[weight] = float(ShadingLoss(target, trainer.settings.photo_size)(trainer.network(batch)))
    assert errors[20.0] < 0.7 * errors[0.0]


def test_schedule_trains_small_crops_first_and_the_bar_counts_their_cost():
    settings = _with(TINY, steps=10, crop_size=128, early_crop_size=64, early_fraction=0.6, photo_size=160)
    trainer = Trainer(stripes(64, 64), _photos(), settings)
    assert [trainer.crop_size_at(i) for i in range(10)] == [64] * 6 + [128] * 4
    # 6 steps of 64^2 pixels and 4 of 128^2: the first six are 6 / (6 + 16) of the work.
    assert trainer.work_done(6) == pytest.approx(6 / 22)
    assert trainer.work_done(10) == 1.0
    seen = []
    trainer.run([lambda e: seen.append(e.progress)])
    assert seen == sorted(seen) and seen[-1] == 1.0


def test_the_teachers_pictures_are_stylize_at_its_defaults_and_count_in_the_work():
    from painterly import StyleParams, stylize
    from painterly.fast.train import TEACHER_WORK_PER_PIXEL

    style = stripes(64, 64)
    trainer = Trainer(style, _photos(), _with(TINY, teacher="stylize", steps=10))
    seen = []
    assert trainer.teach([seen.append]) == "finished"
    assert [(e.step, e.total, e.stage) for e in seen] == [(1, 2, "teacher"), (2, 2, "teacher")]
    for picture, target in zip(trainer.photos, trainer.targets):
        params = StyleParams(size=max(picture.shape[-2:]), device="cpu", seed=0)
        assert torch.allclose(target, stylize(picture, style, params, backbone=trainer.backbone).image, atol=1e-5)
    # Work: each photo's pixels x TEACHER_WORK_PER_PIXEL, then 10 steps of two 64 px crops.
    teacher = [TEACHER_WORK_PER_PIXEL * p.shape[-2] * p.shape[-1] for p in trainer.photos]
    total = sum(teacher) + 10 * 2 * 64 * 64
    assert seen[0].progress == pytest.approx(teacher[0] / total)
    assert trainer.work_done(5) == pytest.approx((sum(teacher) + 5 * 2 * 64 * 64) / total)
    # The checkpoint carries the pictures (8-bit): a resumed run does not paint them again.
    resumed = Trainer(style, _photos(), _with(TINY, teacher="stylize", steps=10))
    resumed.resume(trainer.checkpoint())
    again = []
    assert resumed.teach([again.append]) == "finished" and again == []
    for a, b in zip(resumed.targets, trainer.targets):
        assert (a - b).abs().max() <= 0.5 / 255 + 1e-6


@pytest.mark.slow
def test_a_network_with_a_teacher_learns_to_paint_the_teachers_pictures():
    # Same steps, same seed: the network trained with the teacher ends much closer to the
    # teacher's pictures than one trained on the perceptual loss alone.
    style = stripes(64, 64)
    weights = dict(steps=40, learning_rate=0.01, style_weight=1.0, color_weight=1.0, teacher_weight=10.0)
    taught = Trainer(style, _photos(), _with(TINY, teacher="stylize", **weights))
    taught.run()
    alone = Trainer(style, _photos(), _with(TINY, **weights))
    alone.run()
    with torch.no_grad():
        errors = {name: sum(float((t.network(p) - target).abs().mean()) for p, target in zip(taught.photos, taught.targets))
                  for name, t in (("taught", taught), ("alone", alone))}
    assert errors["taught"] < 0.7 * errors["alone"], errors


def test_a_style_file_from_before_the_full_resolution_stage_loads_as_it_was():
    import io

    from painterly.fast.model_file import style_from_bytes

    old = TransformNet(Architecture(width=4, blocks=1, full_width=0)).eval()
    payload = {"format": "painterly-fast-style", "format_version": 1, "painterly_version": "0.1", "name": "old",
               "architecture": {"width": 4, "blocks": 1},  # no full_width: files written before it existed
               "state_dict": {k: v.half() for k, v in old.state_dict().items()}, "info": {}}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    loaded = style_from_bytes(buffer.getvalue(), "old.painterly")
    assert loaded.network.arch == Architecture(width=4, blocks=1, full_width=0)
    image = _ramp(40, 56)
    with torch.no_grad():
        assert torch.allclose(loaded.network(image), old.half().float()(image), atol=1e-5)


def test_palette_term_is_small_for_the_paintings_own_colours_and_large_for_others():
    style = stripes(64, 64)
    trainer = Trainer(style, _photos(), TINY)
    own = float(trainer.palette_loss(style))
    other = float(trainer.palette_loss(torch.full((1, 3, 64, 64), 0.5)))
    assert own < 0.01 * other


def _with(settings, **changes):
    import dataclasses

    return dataclasses.replace(settings, **changes)


@pytest.mark.slow
def test_resumed_training_is_identical_to_an_uninterrupted_one():
    straight = Trainer(stripes(64, 64), _photos(), TINY)
    straight.run()
    first = Trainer(stripes(64, 64), _photos(), _with(TINY, steps=3))
    first.run()
    state = first.checkpoint()
    resumed = Trainer(stripes(64, 64), _photos(), TINY)
    resumed.resume(state)
    assert resumed.step == 3
    resumed.run()
    for a, b in zip(straight.network.state_dict().values(), resumed.network.state_dict().values()):
        assert torch.equal(a, b)


def test_resume_refuses_other_settings():
    first = Trainer(stripes(64, 64), _photos(), TINY)
    other = Trainer(stripes(64, 64), _photos(), _with(TINY, style_weight=7.0))
    with pytest.raises(ParameterError, match="style_weight"):
        other.resume(first.checkpoint())


@pytest.mark.slow
def test_a_callback_can_stop_training_and_sees_a_preview():
    trainer = Trainer(stripes(64, 64), _photos(), TINY)
    seen = []

    def stop_at_two(event):
        seen.append(event.preview().shape)
        return event.step == 2

    assert trainer.run([stop_at_two]) == "callback" and trainer.step == 2
    assert seen[0] == (1, 3, *trainer.photos[0].shape[-2:])


# -- applying ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_strength_zero_is_the_photo_and_one_is_the_network(style_file):
    style, image = load_style(style_file), _ramp()
    assert torch.allclose(FastStylizer(style, strength=0.0)(image), image)
    with torch.no_grad():
        assert torch.allclose(FastStylizer(style, runtime="torch")(image), style.network(image), atol=1e-6)
    half = FastStylizer(style, strength=0.5, runtime="torch")(image)
    assert torch.allclose(half, 0.5 * image + 0.5 * style.network(image).detach(), atol=1e-5)


@pytest.mark.slow
def test_preserve_colors_luminance_keeps_the_photos_chroma(style_file):
    image = _ramp()
    out = FastStylizer(load_style(style_file), preserve_colors="luminance")(image)
    inner = (slice(None), slice(1, 3))  # the I and Q channels
    assert (rgb_to_yiq(out)[inner] - rgb_to_yiq(image)[inner]).abs().mean() < 0.01


@pytest.mark.slow
def test_tiles_cover_the_image_and_blend_to_exactly_one(style_file):
    """With a pixel-wise 'network' (1 - x) tiling must give exactly the whole-image answer: the
    tiles cover every pixel, their padding and crops line up, and the blend weights sum to 1."""
    image = torch.rand(1, 3, 200, 300)
    whole = FastStylizer(load_style(style_file), tile_size=512)
    tiled = FastStylizer(load_style(style_file), tile_size=128)
    whole.run_padded = tiled.run_padded = lambda padded: 1 - padded
    assert torch.allclose(tiled(image), 1 - image, atol=1e-6)
    assert torch.allclose(whole(image), 1 - image, atol=1e-6)


def test_onnx_runtime_gives_the_same_picture_as_torch(style_file):
    style, image = load_style(style_file), torch.rand(1, 3, 45, 67)
    by_torch = FastStylizer(style, runtime="torch")(image)
    by_onnx = FastStylizer(style, runtime="onnx")(image)
    assert (by_torch - by_onnx).abs().max() < 1e-4
    assert FastStylizer(style, device="cpu").runtime == "onnx"  # auto: the faster one on a CPU


@pytest.mark.parametrize("h, w", [(37, 53), (64, 64), (9, 300)])
def test_torch_free_padding_is_the_networks_padding(h, w):
    from painterly.fast.onnx_apply import pad_array

    image = torch.rand(1, 3, h, w)
    ours = pad_array(image[0].permute(1, 2, 0).numpy())
    assert np.array_equal(ours, pad(image)[0].numpy())


def test_apply_command_paints_without_importing_torch_once_the_graph_is_cached(tmp_path, style_file):
    """The first run exports the ONNX graph (and imports torch); later runs of the same style file
    import neither torch nor anything that does, and paint the same picture as PyTorch does."""
    import subprocess
    import sys

    from painterly.io import save_image

    image = tmp_path / "photo.png"
    save_image(_ramp(60, 90), image)
    probe = (
        "import sys; from painterly.cli import main; code = main(sys.argv[1:]); "
        "print('torch' in sys.modules); sys.exit(code)"
    )
    env = {**os.environ, "PAINTERLY_CACHE": str(tmp_path / "cache"), "PAINTERLY_THREADS": "1"}
    imported = []
    for run_number in range(2):
        out = tmp_path / f"painted{run_number}.png"
        done = subprocess.run([sys.executable, "-c", probe, "fast", "apply", str(style_file), str(image), "-o", str(out), "-q"],
                              check=False, capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr
        imported.append(done.stdout.strip())
    assert imported == ["True", "False"]
    assert len(list((tmp_path / "cache" / "fast").glob("*.onnx"))) == 1
    expected = FastStylizer(load_style(style_file), runtime="torch", device="cpu")(load_image(image))
    painted = load_image(tmp_path / "painted1.png")
    assert (painted - expected).abs().max() <= 1.5 / 255


def test_a_damaged_cached_graph_is_exported_again(tmp_path, capsys, style_file, monkeypatch):
    monkeypatch.setenv("PAINTERLY_CACHE", str(tmp_path / "cache"))
    image = tmp_path / "photo.png"
    photo(40, 30).save(image)
    assert run(["fast", "apply", style_file, image, "-o", tmp_path / "a.png", "-q"], capsys)[0] == 0
    (cached,) = (tmp_path / "cache" / "fast").glob("*.onnx")
    cached.write_bytes(b"not an onnx graph")
    assert run(["fast", "apply", style_file, image, "-o", tmp_path / "b.png", "-q"], capsys)[0] == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a.png")), np.asarray(Image.open(tmp_path / "b.png")))
    assert cached.read_bytes() != b"not an onnx graph"


def test_strength_and_size_on_the_torch_free_path_match_the_torch_runtime(tmp_path, capsys, style_file):
    image = tmp_path / "photo.png"
    photo(120, 80).save(image)
    for runtime in ("onnx", "torch"):
        argv = ["fast", "apply", style_file, image, "-o", tmp_path / f"{runtime}.png", "--strength", "0.4",
                "--size", "60", "--runtime", runtime, "-q"]
        assert run(argv, capsys)[0] == 0
    onnx_picture = np.asarray(Image.open(tmp_path / "onnx.png")).astype(int)
    torch_picture = np.asarray(Image.open(tmp_path / "torch.png")).astype(int)
    assert onnx_picture.shape == torch_picture.shape == (40, 60, 3)
    # Pillow's and torch's antialiased bicubic resizes differ by a level or two at most.
    assert np.abs(onnx_picture - torch_picture).mean() < 1.0


def test_exported_onnx_file_runs_in_plain_onnxruntime(tmp_path, capsys, style_file):
    out = tmp_path / "style.onnx"
    code, _, err = run(["fast", "export", style_file, "-o", out], capsys)
    assert code == 0, err
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    padded = pad(torch.rand(1, 3, 40, 56))
    got = session.run(None, {session.get_inputs()[0].name: padded.numpy()})[0]
    with torch.no_grad():
        want = load_style(style_file).network.padded_forward(padded).numpy()
    assert got.shape == want.shape and np.abs(got - want).max() < 1e-4


def test_smoothing_holds_still_pixels_and_follows_moving_ones():
    smoother = TemporalSmoother(0.8)
    frame = torch.zeros(1, 3, 4, 4)
    smoother(frame, torch.zeros(1, 3, 4, 4))
    moved = frame.clone()
    moved[..., :2] = 1.0  # the left half changes, the right half stays
    out = smoother(moved, torch.ones(1, 3, 4, 4))
    assert torch.allclose(out[..., 2:], torch.full_like(out[..., 2:], 0.2))  # 0.8 of the old 0 kept
    assert out[..., :2].min() > 0.99  # exp(-1/0.03) of the old kept: none
    assert torch.equal(TemporalSmoother(0.0)(moved, torch.ones(1, 3, 4, 4)), torch.ones(1, 3, 4, 4))


def test_smoothing_refuses_what_the_cli_refuses():
    # The library and `fast apply --smoothing` share one range: 0.9 is the largest both accept.
    assert TemporalSmoother(0.9).amount == 0.9
    for amount in (0.95, -0.1, float("nan")):
        with pytest.raises(ParameterError, match="smoothing"):
            TemporalSmoother(amount)


# -- folders ----------------------------------------------------------------------------------


def test_folder_plan_mirrors_the_tree_and_knows_what_is_done(tmp_path):
    src = tmp_path / "photos"
    (src / "trip" / "day1").mkdir(parents=True)
    photo().save(src / "a.jpg")
    photo().save(src / "trip" / "day1" / "b.png")
    (src / "notes.txt").write_text("not a picture")
    out = tmp_path / "out"
    jobs = plan_jobs([src], out, ".png")
    assert [j.target.relative_to(out).as_posix() for j in jobs] == ["photos/a.png", "photos/trip/day1/b.png"]
    assert not any(j.done for j in jobs)
    jobs[0].target.parent.mkdir(parents=True)
    jobs[0].target.write_bytes(b"done before")
    assert [j.done for j in plan_jobs([src], out, ".png")] == [True, False]
    os.utime(src / "a.jpg", (time.time() + 10, time.time() + 10))  # the photo changed since
    assert [j.done for j in plan_jobs([src], out, ".png")] == [False, False]


def test_folder_plan_refuses_writing_over_inputs(tmp_path):
    photo().save(tmp_path / "a.png")
    with pytest.raises(ParameterError, match="overwrite an input"):
        plan_jobs([tmp_path / "a.png"], tmp_path)


@pytest.mark.slow
def test_apply_to_a_folder_continues_past_bad_files(tmp_path, capsys, style_file):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    photo().save(src / "good.jpg")
    photo(64, 48).save(src / "sub" / "also_good.png")
    make_hostile("text", src)
    make_hostile("truncated", src / "sub")
    out = tmp_path / "out"
    code, _, err = run(["fast", "apply", style_file, src, "-o", out, "--format", ".png"], capsys)
    assert code == 1  # some files failed
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert len(warnings) == 2 and any("notes.png" in w for w in warnings) and any("cut.jpg" in w for w in warnings)
    assert "Traceback" not in err
    assert opened(out / "in" / "good.png").size == (96, 64)
    assert opened(out / "in" / "sub" / "also_good.png").size == (64, 48)
    assert not (out / "in" / "notes.png").exists()
    # A second run skips what is done.
    code, _, err = run(["fast", "apply", style_file, src, "-o", out, "--format", ".png"], capsys)
    assert "0 written, 3 already done, 2 failed" in err.replace("full.jpg", "")  # full.jpg: the truncation's source


@pytest.mark.parametrize("kind", ["truncated", "empty", "text"])
def test_apply_to_one_bad_image_is_one_line_and_writes_nothing(tmp_path, capsys, style_file, kind):
    bad = make_hostile(kind, tmp_path)
    out = tmp_path / "out.png"
    code, _, err = run(["fast", "apply", style_file, bad, "-o", out], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and bad.name in err
    assert not out.exists()


def test_apply_with_a_file_that_is_not_a_model(tmp_path, capsys):
    fake = tmp_path / "fake.painterly"
    fake.write_text("hello")
    photo().save(tmp_path / "a.png")
    code, _, err = run(["fast", "apply", fake, tmp_path / "a.png", "-o", tmp_path / "b.png"], capsys)
    assert code == 2 and "not a painterly style file" in err and len(err.strip().splitlines()) == 1


# -- video ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_video_keeps_frames_size_and_audio(tmp_path, capsys, style_file):
    video = make_video(tmp_path / "clip.mp4", frames=10, size=(96, 64))
    out = tmp_path / "painted.mp4"
    code, _, err = run(["fast", "apply", style_file, video, "-o", out, "-q"], capsys)
    assert code == 0, err
    with av.open(str(out)) as container:
        kinds = sorted(s.type for s in container.streams)
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert kinds == ["audio", "video"]
    assert len(frames) == 10 and frames[0].shape == (64, 96, 3)
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]
    code, _, err = run(["fast", "apply", style_file, video, "-o", tmp_path / "small.mp4", "--size", "48", "-q"], capsys)
    assert code == 0, err
    with av.open(str(tmp_path / "small.mp4")) as container:
        assert (container.streams.video[0].width, container.streams.video[0].height) == (48, 32)


def test_video_without_a_video_stream_is_a_clear_error(tmp_path, capsys, style_file):
    sound_only = tmp_path / "sound.mp4"
    with av.open(str(sound_only), mode="w") as out:
        stream = out.add_stream("aac", rate=22050)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 22050
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    code, _, err = run(["fast", "apply", style_file, sound_only, "-o", tmp_path / "out.mp4"], capsys)
    assert code == 2 and "has no video stream" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out.mp4").exists()


# -- training from the command line -----------------------------------------------------------


@pytest.mark.slow
def test_train_command_writes_style_checkpoint_preview_and_resumes(tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    photo(128, 96).save(photos / "a.jpg")
    photo(96, 128).save(photos / "b.png")
    make_hostile("text", photos)
    style = tmp_path / "style.png"
    Image.fromarray((stripes(64, 64)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(style)
    out = tmp_path / "styles" / "mine.painterly"
    options = ["--crop-size", "64", "--photo-size", "96", "--style-size", "64", "--batch-size", "2", "--width", "4",
               "--blocks", "1", "--device", "cpu", "--preview-every", "2", "--checkpoint-every", "2", "-q"]
    code, _, err = run(["fast", "train", style, "--images", photos, "-o", out, "--steps", "2", *options], capsys)
    assert code == 0, err
    assert "notes.png" in err  # the unreadable photo was skipped with a warning
    trained = load_style(out)
    assert trained.name == "mine" and trained.info["steps"] == 2 and trained.info["style_file"] == "style.png"
    assert trained.info["settings"]["crop_size"] == 64
    assert trained.info["content_layers"] == {"b2.out": 1.0, "b4.out": 1.0, "b9.out": 1.0}
    assert opened(out.with_name("mine.preview.png")).size == (96, 72)
    # The teacher (the default) painted both readable photos, kept as 8-bit pictures for --resume.
    from painterly.fast.model_file import read_checkpoint

    teacher = read_checkpoint(out.with_name("mine.painterly.ckpt"))["teacher"]
    assert [(t.dtype, t.shape[1]) for t in teacher] == [(torch.uint8, 3)] * 2
    code, _, err = run(["fast", "train", style, "--images", photos, "-o", out, "--steps", "4", "--resume", *options], capsys)
    assert code == 0, err
    assert load_style(out).info["steps"] == 4
    code, _, err = run(["fast", "train", style, "--images", photos, "-o", out, "--steps", "6", "--resume",
                        *options, "--style-weight", "2"], capsys)
    assert code == 2 and "style_weight" in err


@pytest.mark.slow
def test_sigterm_during_training_keeps_the_network_and_a_resumable_checkpoint(tmp_path):
    import signal
    import subprocess
    import sys

    photos = tmp_path / "photos"
    photos.mkdir()
    photo(128, 96).save(photos / "a.jpg")
    style = tmp_path / "style.png"
    photo(64, 64).save(style)
    out = tmp_path / "mine.painterly"
    cmd = [sys.executable, "-m", "painterly", "fast", "train", str(style), "--images", str(photos), "-o", str(out),
           "--steps", "100000", "--crop-size", "64", "--photo-size", "96", "--style-size", "64", "--batch-size", "1",
           "--width", "4", "--blocks", "1", "--device", "cpu", "--checkpoint-every", "1", "-q"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    checkpoint = tmp_path / "mine.painterly.ckpt"
    deadline = time.time() + 120
    while not checkpoint.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "--resume" in err
    assert load_style(out).info["steps"] >= 1


# -- shipped styles ---------------------------------------------------------------------------


def test_list_shows_every_shipped_style(capsys):
    code, out, _ = run(["fast", "list"], capsys)
    assert code == 0
    assert [line.split()[0] for line in out.strip().splitlines()] == list(shipped_styles())


@pytest.fixture(scope="module")
def painted_cats(cat_path):
    """Each shipped style's picture of the cat (a photo none was trained on)."""
    photo_image = load_image(cat_path)
    return photo_image, {name: FastStylizer(find_style(name), runtime="torch", device="cpu")(photo_image) for name in shipped_styles()}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(shipped_styles()))
def test_shipped_styles_look_like_their_own_painting(name, painted_cats):
    """By painterly.measure's network-free style distance (colours and oriented strokes), a
    shipped style's picture is far closer to its own painting than the photo was, and closer to
    its own painting than to any other shipped style's painting. (The backbone's Gram distance,
    used before, could not tell Munch's oranges from Gauguin's on a small photo.)"""
    from painterly.measure import style_distances

    photo_image, painted = painted_cats
    own = _small(load_image(_painting(find_style(name).info["style_file"])))
    to_own, photo_to_own = style_distances([painted[name], photo_image], own)
    assert to_own < 0.8 * photo_to_own
    for other in set(shipped_styles()) - {name}:
        painting = _small(load_image(_painting(find_style(other).info["style_file"])))
        assert to_own < OWN_PAINTING_MARGIN * style_distances([painted[name]], painting)[0], other


OWN_PAINTING_MARGIN = 0.85  # measured: own / nearest other painting 0.34-0.63 (Léger the highest), own / photo 0.13-0.63


def _small(image):
    from painterly.io import resize_long_side

    return resize_long_side(image, 256)


def _painting(file_name):
    from pathlib import Path

    return Path(__file__).parents[1] / "examples" / file_name


# -- the photo skip -----------------------------------------------------------------------------


def test_the_photo_skip_needs_a_full_resolution_stage():
    with pytest.raises(ValueError, match="full_width"):
        TransformNet(Architecture(width=4, blocks=1, full_width=0, photo_skip=1))
    with pytest.raises(ParameterError, match="photo_skip"):
        _with(TINY, full_width=0, photo_skip=1).validate()


def test_the_photo_skip_feeds_the_padded_photo_to_the_full_resolution_stage():
    # With the weights from the lower stages' features zeroed, the last stage sees only the photo:
    # its output must be what the same layers give on the padded photo alone, computed here by hand.
    torch.manual_seed(0)
    net = TransformNet(Architecture(width=4, blocks=1, full_width=5, photo_skip=1)).eval()
    last = net.decode[-1].conv
    conv, norm = last[0], last[1]
    with torch.no_grad():
        conv.weight[:, :4] = 0  # the first 4 input channels are the upsampled features
        padded = pad(torch.rand(1, 3, 30, 41))
        by_hand = F.conv2d(F.pad(padded, (1, 1, 1, 1), mode="reflect"), conv.weight[:, 4:], conv.bias)
        by_hand = torch.relu(norm(by_hand))
        by_hand = torch.sigmoid(net.to_rgb(by_hand))
        assert torch.allclose(net.padded_forward(padded), by_hand, atol=1e-6)


def test_a_style_with_the_photo_skip_round_trips_and_runs_in_onnx(tmp_path):
    from painterly.fast.model_file import FastStyle

    torch.manual_seed(0)
    network = TransformNet(Architecture(width=4, blocks=1, full_width=4, photo_skip=1)).eval()
    path = _resave(FastStyle(network, "skip", {}), tmp_path / "skip.painterly")
    style = load_style(path)
    assert style.network.arch.photo_skip == 1
    image = _ramp(37, 50)
    by_torch = FastStylizer(style, runtime="torch")(image)
    by_onnx = FastStylizer(style, runtime="onnx")(image)
    assert (by_torch - by_onnx).abs().max() < 1e-4


# -- the inference form (polyphase.py) ----------------------------------------------------------


def _random_network(arch):
    """Random weights large enough that the picture is not a flat sigmoid plateau."""
    torch.manual_seed(1)
    net = TransformNet(arch).eval()
    with torch.no_grad():
        for name, parameter in net.named_parameters():
            if parameter.dim() == 4:
                parameter.normal_(0, 0.4)
            elif name.endswith("bias"):
                parameter.normal_(0, 0.3)
    return net


def test_a_resized_convolution_puts_each_tap_where_the_resize_sends_it():
    from painterly.fast.polyphase import resized_conv_weight

    # The top-left tap (row and column offset -1) of a 3x3 kernel on the x2-resized map: for the
    # output's even rows it reads the small map's row above (i-1), for odd rows its own row (i);
    # columns alike. Phase (a, b) is output channel 2a + b; kernel index 0 is offset -1.
    weight = torch.zeros(1, 1, 3, 3)
    weight[0, 0, 0, 0] = 1.0
    phased = resized_conv_weight(weight)
    assert phased.shape == (4, 1, 3, 3)
    expected = torch.zeros(4, 1, 3, 3)
    expected[0, 0, 0, 0] = 1  # phase (0, 0): row i-1, column j-1
    expected[1, 0, 0, 1] = 1  # phase (0, 1): row i-1, column j
    expected[2, 0, 1, 0] = 1  # phase (1, 0): row i, column j-1
    expected[3, 0, 1, 1] = 1  # phase (1, 1): row i, column j
    assert torch.equal(phased, expected)
    # The centre tap is read from the pixel itself in every phase.
    weight = torch.zeros(1, 1, 3, 3)
    weight[0, 0, 1, 1] = 2.0
    assert torch.equal(resized_conv_weight(weight)[:, 0, 1, 1], torch.full((4,), 2.0))


@pytest.mark.parametrize("arch", [Architecture(width=4, blocks=1, full_width=5, photo_skip=1),
                                  Architecture(width=4, blocks=2, full_width=3, photo_skip=0)],
                         ids=["photo-skip", "no-skip"])
@pytest.mark.parametrize("h, w", [(37, 53), (64, 64), (9, 300)])
def test_the_polyphase_network_paints_the_same_picture(arch, h, w):
    from painterly.fast.polyphase import PolyphaseNet

    net = _random_network(arch)
    padded = pad(torch.rand(1, 3, h, w))
    with torch.no_grad():
        want = net.padded_forward(padded)
        phases = PolyphaseNet(net)(padded)
        whole = PolyphaseNet(net, interleave=True)(padded)
    assert want.std() > 0.05  # a picture with detail, so a misplaced pixel would show
    assert phases.shape == (1, 12, padded.shape[-2] // 2, padded.shape[-1] // 2)
    assert (F.pixel_shuffle(phases, 2) - want).abs().max() < 1e-5
    assert (whole - want).abs().max() < 1e-5


def test_interleaving_without_torch_is_pixel_shuffle():
    from painterly.fast.onnx_apply import interleave

    phases = torch.rand(2, 12, 5, 7)
    want = F.pixel_shuffle(phases, 2).permute(0, 2, 3, 1).numpy()
    assert np.array_equal(interleave(phases.numpy()), want)


@pytest.mark.parametrize("full_width, output", [(4, "padded_output_phases"), (0, "padded_output")])
def test_the_cached_graph_gives_phases_only_where_there_is_a_full_resolution_stage(tmp_path, full_width, output):
    from painterly.fast.model_file import FastStyle
    from painterly.fast.onnx_apply import OnnxPainter, style_session

    net = _random_network(Architecture(width=4, blocks=1, full_width=full_width, photo_skip=int(full_width > 0)))
    path = _resave(FastStyle(net, "s", {}), tmp_path / "s.painterly")
    session = style_session(path, tmp_path / "cache")
    assert session.get_outputs()[0].name == output
    image = _ramp(37, 50)
    painted = OnnxPainter(session)(image[0].permute(1, 2, 0).numpy())
    with torch.no_grad():
        want = net(image)[0].permute(1, 2, 0).numpy()
    assert painted.shape == (37, 50, 3)
    # ONNX Runtime's convolutions round differently from PyTorch's, and these large random weights
    # amplify that to ~1e-3; a pixel or phase out of place would be off by ~0.1.
    assert np.abs(painted - want).max() < 1e-2
    assert np.abs(painted - want).mean() < 1e-3
