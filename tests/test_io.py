"""Tests for painterly.io and painterly.colors. Every fixture is generated here in tmp_path."""

from __future__ import annotations

import errno
import io
import os
import stat
import struct
import warnings

import numpy as np
import png
import pytest
import tifffile
import torch
from PIL import Image, ImageCms, ImageOps, JpegImagePlugin

from painterly.colors import match_histogram, rgb_to_yiq, transfer_luminance, yiq_to_rgb
from painterly.errors import ImageError, ParameterError
from painterly.io import (
    image_from_bytes,
    load_image,
    read_image,
    resize_long_side,
    resize_to,
    save_image,
    to_pil,
    to_tensor,
)

from imagegen import opened

# --------------------------------------------------------------------------------------------
# Fixture helpers


def photo(w: int = 64, h: int = 48) -> Image.Image:
    """A smooth, colourful RGB image: JPEG keeps it close, and every corner differs."""
    y, x = np.mgrid[0:h, 0:w]
    r, g, b = x * 255 / max(w - 1, 1), y * 255 / max(h - 1, 1), 255 - (x + y) * 127 / (w + h)
    arr = np.stack([r, g, b], -1)
    return Image.fromarray(np.round(arr).astype(np.uint8))


def as_array(t: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) in [0, 1] -> (H, W, 3) in 0..255 floats."""
    return t[0].permute(1, 2, 0).numpy() * 255


def assert_one_line_error(excinfo: pytest.ExceptionInfo, name: str, *words: str) -> None:
    msg = str(excinfo.value)
    assert name in msg and "\n" not in msg, msg
    for word in words:
        assert word in msg, msg


def linear_rgb_icc() -> bytes:
    """An ICC v2 RGB profile with sRGB primaries but a linear (gamma 1.0) tone curve.

    Pillow can only create sRGB, LAB and XYZ profiles, so this one is written by hand. Pixels
    tagged with it are linear light: 50% grey must come out as sRGB 73.7%, not 50%.
    """

    def s15(v: float) -> bytes:
        return struct.pack(">i", round(v * 65536))

    def xyz(x: float, y: float, z: float) -> bytes:
        return b"XYZ \0\0\0\0" + s15(x) + s15(y) + s15(z)

    text = b"Linear RGB test\0"
    desc = b"desc\0\0\0\0" + struct.pack(">I", len(text)) + text + b"\0" * (4 + 4 + 3 + 67)
    curv = b"curv\0\0\0\0" + struct.pack(">IH", 1, 0x0100) + b"\0\0"  # gamma 1.0 (u8Fixed8)
    tags = [
        (b"desc", desc),
        (b"wtpt", xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", xyz(0.4361, 0.2225, 0.0139)),
        (b"gXYZ", xyz(0.3851, 0.7169, 0.0971)),
        (b"bXYZ", xyz(0.1431, 0.0606, 0.7141)),
        (b"rTRC", curv),
        (b"gTRC", curv),
        (b"bTRC", curv),
        (b"cprt", b"text\0\0\0\0none\0\0\0\0"),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for sig, data in tags:
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data + b"\0" * (-len(data) % 4)
    header = (
        struct.pack(">I", offset + len(body)) + b"\0" * 4 + struct.pack(">I", 0x02100000)
        + b"mntrRGB XYZ " + b"\0" * 12 + b"acsp" + b"\0" * 28
        + s15(0.9642) + s15(1.0) + s15(0.8249) + b"\0" * 48
    )
    return header + struct.pack(">I", len(tags)) + table + body


def srgb_encode(linear: float) -> float:
    return 12.92 * linear if linear <= 0.0031308 else 1.055 * linear ** (1 / 2.4) - 0.055


# --------------------------------------------------------------------------------------------
# Hostile and unusual inputs


def test_truncated_jpeg_is_refused(tmp_path):
    buf = io.BytesIO()
    photo(512, 384).save(buf, "JPEG", quality=92)
    path = tmp_path / "truncated_40pct.jpg"
    path.write_bytes(buf.getvalue()[: int(len(buf.getvalue()) * 0.4)])
    with pytest.raises(ImageError) as e:
        load_image(path)
    assert_one_line_error(e, "truncated_40pct.jpg", "truncated")


def test_zero_byte_file_is_refused(tmp_path):
    path = tmp_path / "zero_bytes.jpg"
    path.write_bytes(b"")
    with pytest.raises(ImageError) as e:
        load_image(path)
    assert_one_line_error(e, "zero_bytes.jpg", "empty")


def test_text_file_named_png_is_refused(tmp_path):
    path = tmp_path / "text_file_named_as.png"
    path.write_text("This is not an image, whatever its name says.\n")
    with pytest.raises(ImageError) as e:
        load_image(path)
    assert_one_line_error(e, "text_file_named_as.png", "not an image file")


def test_missing_file_and_directory_are_refused(tmp_path):
    with pytest.raises(ImageError) as e:
        load_image(tmp_path / "missing.jpg")
    assert_one_line_error(e, "missing.jpg", "no such file")
    with pytest.raises(ImageError) as e:
        load_image(tmp_path)
    assert_one_line_error(e, str(tmp_path), "directory")


def test_content_decides_format_not_extension(tmp_path):
    path = tmp_path / "really_a_png.jpg"
    photo().save(path, "PNG")
    assert np.array_equal(np.round(as_array(load_image(path))), np.asarray(photo()))


def test_16bit_greyscale_png_keeps_precision(tmp_path):
    ramp = np.tile(np.linspace(0, 65535, 1024).round().astype(np.uint16), (4, 1))
    path = tmp_path / "gray_16bit_I16.png"
    Image.fromarray(ramp).save(path)
    assert opened(path).mode == "I;16"
    t = load_image(path)
    assert t.shape == (1, 3, 4, 1024)
    assert t.unique().numel() > 256
    assert torch.allclose(t[0, 1], torch.from_numpy(ramp / 65535).float(), atol=1e-6)


def test_cmyk_jpeg_is_close_to_rgb_original(tmp_path):
    path = tmp_path / "cmyk.jpg"
    photo().convert("CMYK").save(path, quality=95)
    assert opened(path).mode == "CMYK"
    t = load_image(path)
    assert t.shape == (1, 3, 48, 64)
    assert np.abs(as_array(t) - np.asarray(photo(), dtype=float)).mean() < 3


def test_greyscale_png_gives_equal_channels(tmp_path):
    grey = photo().convert("L")
    path = tmp_path / "grayscale_L.png"
    grey.save(path)
    arr = as_array(load_image(path))
    for c in range(3):
        assert np.allclose(arr[..., c], np.asarray(grey), atol=1e-3)


def test_rgba_transparency_becomes_white(tmp_path):
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[..., :3] = (200, 30, 40)
    rgba[:, :3, 3] = 0  # transparent
    rgba[:, 3:6, 3] = 128  # half
    rgba[:, 6:, 3] = 255  # opaque
    path = tmp_path / "rgba_transparent.png"
    Image.fromarray(rgba).save(path)
    arr = as_array(load_image(path))
    assert np.allclose(arr[:, :3], 255, atol=1e-3)
    assert np.allclose(arr[:, 6:], (200, 30, 40), atol=1e-3)
    half = 128 / 255
    assert np.allclose(arr[0, 4], np.array([200, 30, 40]) * half + 255 * (1 - half), atol=1e-3)


def test_palette_gif_with_and_without_transparency(tmp_path):
    img = photo().quantize(colors=64)
    path = tmp_path / "palette_P.gif"
    img.save(path)
    assert opened(path).mode == "P"
    assert np.abs(as_array(load_image(path)) - np.asarray(img.convert("RGB"), float)).max() < 1e-3

    pal = Image.new("P", (4, 4), 0)
    pal.putpalette([10, 20, 30, 250, 0, 0] + [0] * 762)
    pal.putpixel((0, 0), 1)
    pal.save(tmp_path / "transparent.gif", transparency=1)
    arr = as_array(load_image(tmp_path / "transparent.gif"))
    assert np.allclose(arr[0, 0], 255) and np.allclose(arr[1, 1], (10, 20, 30))


def test_animated_gif_gives_first_frame(tmp_path):
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 0, 255))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    with Image.open(path) as image:
        assert image.n_frames == 2
    assert np.allclose(as_array(load_image(path))[4, 4], (255, 0, 0), atol=1)


def exif_image(orientation: int) -> Image.Image:
    img = photo(40, 20)
    exif = Image.Exif()
    exif[0x0112] = orientation
    img.info["exif"] = exif.tobytes()
    return img


def test_exif_orientation_6_jpeg_loads_upright(tmp_path):
    upright = photo(64, 48)
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # stored turned 90 deg CCW
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "exif_orientation_6.jpg"
    stored.save(path, quality=95, exif=exif)
    t = load_image(path)
    assert t.shape == (1, 3, 48, 64)  # upright (H, W), not the stored 64x48
    assert np.abs(as_array(t) - np.asarray(upright, float)).mean() < 3


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_pillow(tmp_path, orientation):
    path = tmp_path / f"orient{orientation}.png"
    img = exif_image(orientation)
    img.save(path, exif=img.info["exif"])
    expected = np.asarray(ImageOps.exif_transpose(opened(path)).convert("RGB"), float)
    assert np.array_equal(np.round(as_array(load_image(path))), expected)
    if orientation != 1:
        assert not np.array_equal(expected, np.asarray(photo(40, 20), float))


def test_tiny_and_very_wide_images(tmp_path):
    photo().resize((8, 8)).save(tmp_path / "tiny_8x8.png")
    assert load_image(tmp_path / "tiny_8x8.png").shape == (1, 3, 8, 8)
    photo().resize((4000, 40)).save(tmp_path / "wide_4000x40.jpg", quality=92)
    wide = load_image(tmp_path / "wide_4000x40.jpg")
    assert wide.shape == (1, 3, 40, 4000)
    assert resize_long_side(wide, 512).shape == (1, 3, 5, 512)
    assert resize_long_side(wide, 100).shape == (1, 3, 1, 100)  # 1 px, never 0


def test_embedded_icc_profile_is_converted_to_srgb(tmp_path):
    path = tmp_path / "linear.png"
    Image.new("RGB", (4, 4), (128, 128, 128)).save(path, icc_profile=linear_rgb_icc())
    t = load_image(path)
    assert torch.allclose(t, torch.full_like(t, srgb_encode(128 / 255)), atol=2 / 255)
    assert read_image(path).getpixel((0, 0))[0] in range(186, 190)


def test_broken_icc_profile_is_ignored(tmp_path):
    path = tmp_path / "badicc.png"
    Image.new("RGB", (4, 4), (128, 64, 32)).save(path, icc_profile=b"not a profile")
    assert np.allclose(as_array(load_image(path))[0, 0], (128, 64, 32), atol=1e-3)


def test_max_pixels_is_checked_before_decoding(tmp_path):
    buf = io.BytesIO()
    photo(512, 384).save(buf, "JPEG")
    path = tmp_path / "big.jpg"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])  # decoding would fail
    with pytest.raises(ImageError) as e:
        load_image(path, max_pixels=1000)
    assert_one_line_error(e, "big.jpg", "512x384 px is over the 1000 pixel limit")
    photo().save(tmp_path / "ok.png")
    assert load_image(tmp_path / "ok.png", max_pixels=64 * 48).shape == (1, 3, 48, 64)  # at limit


def test_pillow_decompression_bomb_checks_never_escape(tmp_path, monkeypatch, recwarn):
    path = tmp_path / "bomb.png"
    photo(20, 20).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 300)  # 400 px: over, but under 2x -> warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_image(path).shape == (1, 3, 20, 20)
    assert len(recwarn) == 0
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # over 2x -> Pillow raises
    with pytest.raises(ImageError) as e:
        load_image(path)
    assert_one_line_error(e, "bomb.png", "too large")


def test_image_from_bytes_names_the_upload():
    buf = io.BytesIO()
    photo().save(buf, "WEBP", lossless=True)
    assert np.array_equal(np.round(as_array(image_from_bytes(buf.getvalue()))), np.asarray(photo()))
    with pytest.raises(ImageError) as e:
        image_from_bytes(b"", name="cat.jpg")
    assert_one_line_error(e, "cat.jpg", "empty")
    with pytest.raises(ImageError) as e:
        image_from_bytes(b"hello world")
    assert_one_line_error(e, "upload", "not an image file")


def test_read_image_returns_8bit_rgb(tmp_path):
    path = tmp_path / "la.png"
    Image.new("LA", (5, 3), (100, 255)).save(path)
    img = read_image(path)
    assert img.mode == "RGB" and img.size == (5, 3) and img.getpixel((0, 0)) == (100, 100, 100)


# --------------------------------------------------------------------------------------------
# Tensor conversion and resizing


def test_to_tensor_to_pil_round_trip():
    t = to_tensor(photo())
    assert t.shape == (1, 3, 48, 64) and t.dtype == torch.float32
    assert np.array_equal(np.asarray(to_pil(t)), np.asarray(photo()))
    assert np.array_equal(np.asarray(to_pil(t[0])), np.asarray(photo()))
    with pytest.raises(ParameterError):
        to_pil(torch.zeros(1, 4, 5, 5))


def test_resize_long_side_keeps_aspect_and_antialiases():
    t = torch.rand(1, 3, 300, 400)
    assert resize_long_side(t, 512).shape == (1, 3, 384, 512)
    assert resize_long_side(t[0], 200).shape == (3, 150, 200)
    assert resize_long_side(torch.rand(1, 3, 400, 300), 40).shape == (1, 3, 40, 30)
    idx = torch.arange(256)
    checker = ((idx[:, None] + idx[None, :]) % 2).float().expand(1, 3, 256, 256)
    small = resize_long_side(checker, 32)
    assert small.min() >= 0 and small.max() <= 1
    assert (small - 0.5).abs().max() < 0.05  # aliasing would leave a pattern of 0s and 1s
    with pytest.raises(ParameterError):
        resize_long_side(t, 0)


def test_resize_to_exact_size_and_clamped():
    t = torch.zeros(1, 3, 10, 10)
    t[..., 5:] = 1.0
    out = resize_to(t, (7, 23))
    assert out.shape == (1, 3, 7, 23)
    assert out.min() >= 0 and out.max() <= 1


# --------------------------------------------------------------------------------------------
# Saving


def test_unsupported_output_suffix(tmp_path):
    with pytest.raises(ImageError) as e:
        save_image(torch.rand(1, 3, 4, 4), tmp_path / "out.bmp")
    msg = "out.bmp: unsupported output format '.bmp'; use .png, .jpg, .webp or .tif"
    assert str(e.value).endswith(msg)
    assert not (tmp_path / "out.bmp").exists()


@pytest.mark.parametrize(
    "suffix,fmt",
    [(".png", "PNG"), (".JPG", "JPEG"), (".jpeg", "JPEG"), (".webp", "WEBP"), (".tif", "TIFF"),
     (".TIFF", "TIFF")],
)
def test_every_output_format_embeds_srgb_profile(tmp_path, suffix, fmt):
    path = save_image(to_tensor(photo()), tmp_path / f"out{suffix}")
    img = opened(path)
    assert img.format == fmt
    profile = ImageCms.ImageCmsProfile(io.BytesIO(img.info["icc_profile"]))
    assert "sRGB" in ImageCms.getProfileDescription(profile)
    assert np.abs(as_array(load_image(path)) - np.asarray(photo(), float)).mean() < 2


def test_16bit_png_round_trip_keeps_precision(tmp_path):
    ramp = torch.linspace(0, 1, 4096).reshape(1, 1, 1, 4096).expand(1, 3, 2, 4096).clone()
    path = save_image(ramp, tmp_path / "deep.png", bit_depth=16)
    with open(path, "rb") as f:
        info = png.Reader(file=f).read()[3]
    assert info["bitdepth"] == 16 and not info["greyscale"]
    assert "icc_profile" in opened(path).info
    back = load_image(path)
    assert back.unique().numel() > 256
    assert torch.allclose(back, ramp, atol=1 / 65535)


def test_16bit_tiff_round_trip_keeps_precision(tmp_path):
    ramp = torch.linspace(0, 1, 4096).reshape(1, 1, 1, 4096).expand(1, 3, 2, 4096).clone()
    path = save_image(ramp, tmp_path / "deep.tif")  # TIFF is 16-bit by default
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        assert page.dtype == np.uint16 and page.shape == (2, 4096, 3)
        assert 34675 in page.tags
    back = load_image(path)
    assert back.unique().numel() > 256
    assert torch.allclose(back, ramp, atol=1 / 65535)


def test_16bit_rgba_png_composites_on_white_at_full_precision(tmp_path):
    rgba = np.zeros((1, 4, 4), np.uint16)
    rgba[0, 0] = (1000, 2000, 3000, 65535)
    rgba[0, 1] = (1000, 2000, 3000, 0)
    path = tmp_path / "rgba16.png"
    with open(path, "wb") as f:
        png.Writer(4, 1, greyscale=False, alpha=True, bitdepth=16).write(f, rgba.reshape(1, -1))
    t = load_image(path)
    assert torch.allclose(t[0, :, 0, 0], torch.tensor([1000, 2000, 3000]) / 65535, atol=1e-6)
    assert torch.allclose(t[0, :, 0, 1], torch.ones(3))


def test_jpeg_is_444_with_requested_quality(tmp_path):
    path = save_image(to_tensor(photo()), tmp_path / "out.jpg")
    img = opened(path)
    assert JpegImagePlugin.get_sampling(img) == 0
    ref = io.BytesIO()
    photo().save(ref, "JPEG", quality=95, subsampling=0)
    assert img.quantization == opened(ref).quantization
    low = opened(save_image(to_tensor(photo()), tmp_path / "low.jpg", quality=50))
    assert low.quantization != img.quantization


def test_16bit_request_for_8bit_format_is_refused(tmp_path):
    for name in ("out.jpg", "out.webp"):
        with pytest.raises(ImageError) as e:
            save_image(torch.rand(1, 3, 4, 4), tmp_path / name, bit_depth=16)
        assert_one_line_error(e, name, "16")
    with pytest.raises(ParameterError):
        save_image(torch.rand(1, 3, 4, 4), tmp_path / "out.png", bit_depth=12)
    assert list(tmp_path.iterdir()) == []


def test_save_rounds_and_leaves_the_callers_tensor_alone(tmp_path):
    t = torch.tensor([0.6 / 255, 254.6 / 255, 1.7, -0.3], dtype=torch.float64).reshape(1, 1, 2, 2)
    t = t.expand(1, 3, 2, 2).clone().requires_grad_(True)
    before = t.detach().clone()
    path = save_image(t, tmp_path / "out.png")
    assert torch.equal(t.detach(), before)
    assert np.asarray(opened(path))[..., 0].tolist() == [[1, 255], [255, 0]]
    save_image(t[0], tmp_path / "chw.png")  # (3, H, W) works too


def test_save_array_rounds_clips_and_turns_nan_into_black(tmp_path):
    from painterly.io import save_array

    pixels = np.array([[[0.6 / 255, 254.6 / 255, 1.7], [-0.3, np.nan, np.inf]], [[-np.inf, 0.5, 1.0], [0, 0, 0]]],
                      dtype=np.float32)
    before = pixels.copy()
    path = save_array(pixels, tmp_path / "out.png")
    assert np.array_equal(pixels, before, equal_nan=True)  # the caller's array is untouched
    assert np.asarray(opened(path)).tolist() == [[[1, 255, 255], [0, 0, 255]], [[0, 128, 255], [0, 0, 0]]]


def test_save_creates_missing_directories(tmp_path):
    path = save_image(torch.rand(1, 3, 4, 4), tmp_path / "a" / "b" / "out.png")
    assert path.is_file() and opened(path).size == (4, 4)


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
def test_new_file_gets_umask_permissions_not_0600(tmp_path):
    mask = os.umask(0o022)
    try:
        path = save_image(torch.rand(1, 3, 4, 4), tmp_path / "out.png")
    finally:
        os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_failed_save_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "out.png"
    target.write_bytes(b"old bytes")

    def broken_save(self, fp, *args, **kwargs):
        fp.write(b"half an image")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(ImageError) as e:
        save_image(torch.rand(1, 3, 4, 4), target)
    assert_one_line_error(e, "out.png", "No space left")
    assert target.read_bytes() == b"old bytes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


@pytest.mark.skipif(os.name == "nt", reason="symlinks need privileges on Windows")
def test_save_refuses_to_overwrite_an_input(tmp_path):
    src = tmp_path / "in.png"
    photo().save(src)
    original = src.read_bytes()
    link = tmp_path / "link.png"
    link.symlink_to(src)
    for target in (src, tmp_path / "sub" / ".." / "in.png", link):
        with pytest.raises(ImageError) as e:
            save_image(torch.rand(1, 3, 4, 4), target, protect=[str(src)])
        assert_one_line_error(e, "png", "refusing to overwrite the input")
    assert src.read_bytes() == original
    # A different name is fine.
    assert save_image(torch.rand(1, 3, 4, 4), tmp_path / "out.png", protect=[src]).is_file()


# --------------------------------------------------------------------------------------------
# Colour helpers


def test_yiq_round_trip_and_white():
    t = torch.rand(1, 3, 16, 16)
    assert torch.allclose(yiq_to_rgb(rgb_to_yiq(t)), t, atol=1e-5)
    white = rgb_to_yiq(torch.ones(1, 3, 1, 1)).flatten()
    assert torch.allclose(white, torch.tensor([1.0, 0.0, 0.0]), atol=1e-3)


def test_transfer_luminance_keeps_content_chroma_and_stylized_luma():
    stylized = 0.3 + 0.4 * torch.rand(1, 3, 8, 8)
    content = 0.3 + 0.4 * torch.rand(1, 3, 8, 8)
    out = transfer_luminance(stylized, content)
    assert out.min() >= 0 and out.max() <= 1
    out_yiq, s_yiq, c_yiq = rgb_to_yiq(out), rgb_to_yiq(stylized), rgb_to_yiq(content)
    assert torch.allclose(out_yiq[:, 0], s_yiq[:, 0], atol=1e-5)
    assert torch.allclose(out_yiq[:, 1:], c_yiq[:, 1:], atol=1e-5)
    with pytest.raises(ParameterError):
        transfer_luminance(stylized, torch.rand(1, 3, 4, 4))


def test_match_histogram_matches_mean_and_covariance():
    g = torch.Generator().manual_seed(0)
    mix = torch.tensor([[1.0, 0.5, 0.2], [0.3, 1.0, 0.1], [0.0, 0.4, 1.0]])
    reference = (0.5 + 0.05 * (mix @ torch.randn(3, 4096, generator=g))).reshape(1, 3, 64, 64)
    source = (0.3 + 0.08 * torch.randn(3, 48 * 48, generator=g)).reshape(1, 3, 48, 48)
    out = match_histogram(source, reference)
    assert out.shape == source.shape
    assert out.min() > 0 and out.max() < 1  # no clamping, so the statistics must match exactly
    flat_out, flat_ref = out.reshape(3, -1).double(), reference.reshape(3, -1).double()
    assert torch.allclose(flat_out.mean(1), flat_ref.mean(1), atol=1e-5)
    assert torch.allclose(torch.cov(flat_out), torch.cov(flat_ref), atol=1e-5, rtol=1e-2)
    cov_source = torch.cov(source.reshape(3, -1)).double()
    assert not torch.allclose(cov_source, torch.cov(flat_ref), atol=1e-3)  # a real change
