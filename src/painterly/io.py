"""Image input and output: safe loading into sRGB tensors and atomic saving.

Loading takes files from users, so any file may be hostile: empty, truncated, mislabelled, huge,
or exotic (CMYK, 16-bit, palette, alpha, rotated by EXIF, tagged with an ICC profile). Every
problem a user can cause raises :class:`~painterly.errors.ImageError` with one line that names the
file. Tensors are (1, 3, H, W) float32 sRGB in [0, 1].
"""

from __future__ import annotations

import io
import os
import re
import stat
import struct
import warnings
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Union

import numpy as np
import png  # pypng: Pillow reads and writes 16-bit colour PNG only as 8-bit
from PIL import Image, ImageCms, UnidentifiedImageError

from .errors import ImageError, ParameterError, PixelLimitError
from .images import WRITABLE_SUFFIXES, long_side_shape
from .outputs import error_detail as _detail, one_line as _one_line, refuse_overwriting_inputs, write_atomically

if TYPE_CHECKING:  # torch is imported where it is used: the ONNX path of `fast apply` never loads it
    import torch

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "SUPPORTED_OUTPUT_SUFFIXES",
    "encode_image",
    "image_from_bytes",
    "image_size",
    "load_array",
    "load_image",
    "read_image",
    "resize_long_side",
    "resize_to",
    "save_array",
    "save_image",
    "to_pil",
    "to_tensor",
]

PathLike = Union[str, "os.PathLike[str]"]

DEFAULT_MAX_PIXELS = 100_000_000
SUPPORTED_OUTPUT_SUFFIXES = WRITABLE_SUFFIXES  # the name this module has always exported

# Formats Pillow may sniff. A closed list keeps rarely used decoders away from untrusted bytes
# (EPS, for one, runs Ghostscript). MPO is what Pillow calls many phone JPEGs.
_INPUT_FORMATS = ("PNG", "JPEG", "MPO", "WEBP", "GIF", "TIFF", "BMP", "AVIF", "PPM", "TGA", "QOI")

# What malformed data makes Pillow's decoders raise. Anything else is a bug and should show.
_DECODE_ERRORS = (
    OSError, SyntaxError, EOFError, ValueError, IndexError, KeyError, TypeError,
    struct.error, zlib.error, ImageCms.PyCMSError, Image.DecompressionBombError,
)
_CORRUPT_ERRORS = (OSError, SyntaxError, EOFError, struct.error, zlib.error)


# --------------------------------------------------------------------------------------------
# Loading


@dataclass(frozen=True)
class _Source:
    """Where the bytes are (a path or an upload) and the name that messages show."""

    name: str
    path: str | None = None
    data: bytes | None = None

    def open(self) -> BinaryIO:
        return open(self.path, "rb") if self.path is not None else io.BytesIO(self.data or b"")


def read_image(path: PathLike, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Read an image file as an upright 8-bit RGB sRGB Pillow image (alpha composited on white).

    Use :func:`load_image` to keep the precision of 16-bit sources.
    """
    return _array_to_pil(_decode(_file_source(path), max_pixels))


def load_image(
    path: PathLike, *, max_pixels: int = DEFAULT_MAX_PIXELS, at_least: int | None = None
) -> torch.Tensor:
    """Read an image file as a (1, 3, H, W) float32 sRGB tensor in [0, 1].

    ``at_least``: the caller will shrink the image to this long side anyway, so a JPEG may be
    decoded at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling) as long as its long side stays at
    least this big; several times faster for large photos (the search index uses it).
    """
    return _array_to_tensor(_decode(_file_source(path), max_pixels, at_least))


def load_array(path: PathLike, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Like :func:`load_image`, as an (H, W, 3) float32 array: for callers that never import torch
    (the ONNX path of `fast apply`, whose start-up time is most of a short command)."""
    pixels = _decode(_file_source(path), max_pixels)
    if pixels.dtype == np.float32 and pixels.flags.writeable:
        return np.clip(pixels, 0.0, 1.0, out=pixels)  # in place: each 1024x768 copy is ~3 ms of page faults
    return np.clip(pixels, 0.0, 1.0).astype(np.float32, copy=False)


def image_from_bytes(
    data: bytes, *, name: str = "upload", max_pixels: int = DEFAULT_MAX_PIXELS
) -> torch.Tensor:
    """Like :func:`load_image`, for bytes received over the network; messages show ``name``."""
    name = _one_line(name)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ParameterError(f"data: expected bytes, got {type(data).__name__}")
    if len(data) == 0:
        raise ImageError(f"{name}: file is empty")
    return _array_to_tensor(_decode(_Source(name, data=bytes(data)), max_pixels))


def image_size(path: PathLike, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[int, int]:
    """(width, height) of the upright image, from the header only: checks before any decoding."""
    src = _file_source(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with src.open() as fp, _open_lazily(fp, src.name, max_pixels) as img:
            _check_size(img, src.name, max_pixels)
            w, h = img.size
            return (h, w) if _orientation(img) in (5, 6, 7, 8) else (w, h)  # EXIF quarter turns


def to_tensor(img: Image.Image) -> torch.Tensor:
    """Convert a Pillow image of any mode to (1, 3, H, W) float32 in [0, 1] (alpha over white).

    Only pixel values are converted: EXIF orientation and ICC profiles are the job of
    :func:`load_image`.
    """
    return _array_to_tensor(_pil_to_array(img, colour_manage=False))


def to_pil(t: torch.Tensor) -> Image.Image:
    """Convert a (1, 3, H, W) or (3, H, W) tensor in [0, 1] to an 8-bit RGB Pillow image."""
    return Image.fromarray(_quantise(t, 8))


def _file_source(path: PathLike) -> _Source:
    """Check the path before any decoder sees it, so the common mistakes get plain messages."""
    name = _one_line(os.fsdecode(path))
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise ImageError(f"{name}: no such file") from None
    except PermissionError:
        raise ImageError(f"{name}: permission denied") from None
    except OSError as e:
        raise ImageError(f"{name}: cannot read file ({_detail(e)})") from e
    if stat.S_ISDIR(st.st_mode):
        raise ImageError(f"{name}: is a directory, not an image file")
    if not stat.S_ISREG(st.st_mode):  # a FIFO or device would block or never end
        raise ImageError(f"{name}: not a regular file")
    if st.st_size == 0:
        raise ImageError(f"{name}: file is empty")
    return _Source(name, path=os.fspath(path))


def _decode(src: _Source, max_pixels: int, at_least: int | None = None) -> np.ndarray:
    """Decode the first frame into an upright (H, W, 3) float32 sRGB array in [0, 1]."""
    with warnings.catch_warnings():
        # Library code must not print: Pillow warns (e.g. DecompressionBombWarning, bad EXIF)
        # where our own checks, below, decide. catch_warnings is process-wide; in a threaded
        # server a concurrent warning may be lost, never a decode result.
        warnings.simplefilter("ignore")
        try:
            fp = src.open()
        except OSError as e:
            raise ImageError(f"{src.name}: cannot read file ({_detail(e)})") from e
        with fp, _open_lazily(fp, src.name, max_pixels) as img:
            _check_size(img, src.name, max_pixels)
            try:
                if at_least is not None and img.format in ("JPEG", "MPO"):
                    _draft(img, at_least)
                arr = _read_high_precision(img, src)
                if arr is None:
                    img.load()
                    arr = _pil_to_array(img, colour_manage=True)
                orientation = _orientation(img)
            except _DECODE_ERRORS as e:
                corrupt = isinstance(e, _CORRUPT_ERRORS)
                kind = "file is truncated or corrupt" if corrupt else "could not decode image"
                raise ImageError(f"{src.name}: {kind} ({_detail(e)})") from e
    return _apply_orientation(arr, orientation)


def _draft(img: Image.Image, at_least: int) -> None:
    """Let libjpeg decode at the smallest 1/2^k scale whose long side is still >= at_least."""
    width, height = img.size
    scale = at_least / max(width, height)
    if scale < 1:
        img.draft(img.mode, (max(1, int(np.ceil(width * scale))), max(1, int(np.ceil(height * scale)))))


def _open_lazily(fp: BinaryIO, name: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Open without decoding: the content decides the format, never the file name."""
    try:
        return _open_registered(fp)
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not an image file (could not identify format)") from None
    except Image.DecompressionBombError as e:  # Pillow's own limit (2 x MAX_IMAGE_PIXELS) hit first
        # Pillow's text talks of "decompression bomb DOS attack"; say what painterly's limit says.
        numbers = [int(n) for n in re.findall(r"(\d+) pixels", str(e))]
        limit = min([max_pixels, *numbers[1:2]])
        size = f"{_pixels_text(numbers[0])}, " if numbers else ""
        raise PixelLimitError(f"{name}: image is too large: {size}over the {limit / 1e6:g} megapixel limit") from None
    except _DECODE_ERRORS as e:
        raise ImageError(f"{name}: file is truncated or corrupt ({_detail(e)})") from e


def _open_registered(fp: BinaryIO) -> Image.Image:
    # Pillow's common formats (PNG, JPEG, GIF, BMP, PPM) first: loading every plugin costs
    # 30-50 ms, a tenth of a whole `fast apply` command; the rest only when those do not match.
    Image.preinit()
    try:
        return Image.open(fp, formats=[f for f in _INPUT_FORMATS if f in Image.OPEN])
    except UnidentifiedImageError:
        if not Image.init():  # every plugin was already loaded: it is not an image we read
            raise
    fp.seek(0)
    return Image.open(fp, formats=[f for f in _INPUT_FORMATS if f in Image.OPEN])


def _pixels_text(n: int) -> str:
    return f"{n / 1e6:.0f} megapixels" if n >= 10_000_000 else f"{n / 1e6:.1f} megapixels" if n >= 1_000_000 else f"{n} pixels"


def _check_size(img: Image.Image, name: str, max_pixels: int) -> None:
    # Runs on the header only: a small file can declare a huge canvas (a decompression bomb).
    width, height = img.size
    if width < 1 or height < 1:
        raise ImageError(f"{name}: image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        big = max_pixels >= 1_000_000
        limit = f"{max_pixels / 1e6:g} megapixel" if big else f"{max_pixels} pixel"
        raise PixelLimitError(f"{name}: {width}x{height} px is over the {limit} limit")


def _orientation(img: Image.Image) -> int:
    try:
        value = img.getexif().get(0x0112, 1)
    except Exception:  # broken EXIF must not make a good picture unreadable; show it as stored
        return 1
    return value if value in range(1, 9) else 1


def _apply_orientation(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Turn stored pixels upright as EXIF asks (the same operations as ImageOps.exif_transpose).

    Done on the array so that 16-bit pixels, which Pillow cannot hold in colour, are turned too.
    """
    ops: dict[int, Callable[[np.ndarray], np.ndarray]] = {
        2: lambda a: a[:, ::-1],  # FLIP_LEFT_RIGHT
        3: lambda a: a[::-1, ::-1],  # ROTATE_180
        4: lambda a: a[::-1],  # FLIP_TOP_BOTTOM
        5: lambda a: a.transpose(1, 0, 2),  # TRANSPOSE
        6: lambda a: np.rot90(a, -1),  # ROTATE_270 (clockwise)
        7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1],  # TRANSVERSE
        8: lambda a: np.rot90(a, 1),  # ROTATE_90 (counter-clockwise)
    }
    return np.ascontiguousarray(ops[orientation](arr)) if orientation in ops else arr


# --- 16-bit sources: Pillow only keeps 16 bits for greyscale, so colour goes via pypng/tifffile


def _read_high_precision(img: Image.Image, src: _Source) -> np.ndarray | None:
    """Decode 16-bit colour PNG/TIFF at full precision; None means: let Pillow decode it."""
    if _foreign_profile(img) is not None:
        return None  # colour management runs through ImageCms, which works in 8 bits here
    if img.format == "PNG" and _png_bit_depth(src) == 16:
        if img.mode == "I;16" and not img.has_transparency_data:
            return None  # Pillow keeps plain 16-bit greyscale, and faster than pypng
        reader: Callable[[BinaryIO], np.ndarray | None] = _read_png16
    elif img.format == "TIFF" and img.mode in ("RGB", "RGBA") and _tiff_bits(img) == {16}:
        reader = _read_tiff16
    else:
        return None
    try:
        with src.open() as fp:
            return reader(fp)
    except Exception:  # e.g. LZW without imagecodecs, or corrupt data: Pillow decodes or explains
        return None


def _tiff_bits(img: Image.Image) -> set[int]:
    return set(img.tag_v2.get(258, ()))  # type: ignore[attr-defined]  # BitsPerSample, one per channel (TIFF only)


def _png_bit_depth(src: _Source) -> int | None:
    with src.open() as fp:
        head = fp.read(26)  # signature, IHDR length and type, width, height, bit depth
    return head[24] if len(head) == 26 and head[12:16] == b"IHDR" else None


def _read_png16(fp: BinaryIO) -> np.ndarray:
    width, height, rows, info = png.Reader(file=fp).asDirect()  # applies tRNS as alpha
    planes = info["planes"]
    raw = np.vstack([np.asarray(row, dtype=np.uint16) for row in rows])
    arr = raw.reshape(height, width, planes).astype(np.float32) / 65535
    if info["alpha"]:  # PNG alpha is straight, never premultiplied
        arr = _over_white(arr[..., :-1], arr[..., -1:], premultiplied=False)
    return _to_three_channels(arr)


def _read_tiff16(fp: BinaryIO) -> np.ndarray | None:
    import tifffile  # here, not at the top: 10-30 ms of every `fast apply`, for 16-bit TIFFs only

    with tifffile.TiffFile(fp) as tif:
        page = tif.pages[0]
        arr, axes, extra = page.asarray(), page.axes, tuple(page.extrasamples)
    if arr.dtype != np.uint16 or arr.ndim != 3:
        return None
    if axes.startswith("S"):  # planar configuration "separate": (S, H, W)
        arr = np.moveaxis(arr, 0, -1)
    arr = arr.astype(np.float32) / 65535
    if arr.shape[-1] > 3 and extra and extra[0] in (1, 2):  # 1: associated, 2: unassociated alpha
        return _over_white(arr[..., :3], arr[..., 3:4], premultiplied=extra[0] == 1)
    return np.ascontiguousarray(arr[..., :3])


# --- Pillow path: every mode to RGB, alpha over white, ICC to sRGB


def _pil_to_array(img: Image.Image, *, colour_manage: bool) -> np.ndarray:
    """(H, W, 3) float32 in [0, 1] from any Pillow mode; 16-bit greyscale keeps its precision."""
    profile = _foreign_profile(img) if colour_manage else None
    img = _normalise_mode(img)
    alpha = None
    if img.mode in ("RGBA", "LA"):
        alpha = np.asarray(img.getchannel("A"), dtype=np.float32)[..., None] / 255
        img = img.convert(img.mode[:-1])
    # ImageCms works in 8 bits here: 16-bit greyscale keeps its precision and skips the profile.
    if profile is not None and img.mode in ("RGB", "CMYK", "L"):
        img = _convert_to_srgb(img, profile)
    arr = _to_three_channels(_mode_to_float(img))
    # Composite after colour conversion: white is white in every display profile.
    return arr if alpha is None else _over_white(arr, alpha, premultiplied=False)


def _normalise_mode(img: Image.Image) -> Image.Image:
    """Reduce Pillow's many modes to L/LA/RGB/RGBA/CMYK or a 16/32-bit greyscale."""
    if img.mode in ("RGBa", "La"):  # premultiplied alpha
        img = img.convert(img.mode.upper())
    if img.mode == "1":
        img = img.convert("L")
    if img.has_transparency_data and img.mode not in ("RGBA", "LA"):  # P/PA, tRNS, ...
        return img.convert("LA" if img.mode == "L" else "RGBA")
    kept = ("L", "RGB", "RGBA", "LA", "CMYK", "I", "F")
    if img.mode not in kept and not img.mode.startswith("I;16"):
        img = img.convert("RGB")  # P, RGBX, YCbCr, HSV, ...
    return img


def _mode_to_float(img: Image.Image) -> np.ndarray:
    if img.mode.startswith("I;16"):
        return np.asarray(img).astype(np.float32) / 65535  # keep 16-bit precision
    if img.mode == "I":  # Pillow's 32-bit mode, in practice holding 16-bit samples
        return np.clip(np.asarray(img), 0, 65535).astype(np.float32) / 65535
    if img.mode == "F":  # float images are conventionally in [0, 1]
        return np.clip(np.nan_to_num(np.asarray(img, dtype=np.float32)), 0.0, 1.0)
    if img.mode not in ("L", "RGB"):
        img = img.convert("RGB")  # CMYK without a profile: Pillow's naive conversion
    pixels = np.asarray(img, dtype=np.float32)  # a new array (a conversion): divided in place
    pixels /= 255
    return pixels


def _foreign_profile(img: Image.Image) -> ImageCms.ImageCmsProfile | None:
    """The embedded ICC profile, unless it is absent, broken or (by its description) sRGB."""
    data = img.info.get("icc_profile")
    if not data:
        return None
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(data))
        description = ImageCms.getProfileDescription(profile)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None  # like browsers, ignore a broken profile: the pixels are most likely sRGB
    return None if "srgb" in description.lower() else profile


def _convert_to_srgb(img: Image.Image, profile: ImageCms.ImageCmsProfile) -> Image.Image:
    try:
        converted = ImageCms.profileToProfile(img, profile, _srgb_profile(), outputMode="RGB")
        assert converted is not None  # None only when converting in place, which this does not ask for
        return converted
    except ImageCms.PyCMSError:
        return img  # profile does not fit the pixels (e.g. a CMYK profile on RGB): ignore it


@lru_cache(maxsize=1)
def _srgb_profile() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


# The creation date in every embedded profile: LittleCMS stamps the current time into the ICC
# header (bytes 24-35), which made two runs with the same seed give identical pixels but
# different files. A fixed date makes outputs byte-identical (docs/reliability.md).
ICC_DATE = (2000, 1, 1, 0, 0, 0)


@lru_cache(maxsize=1)
def _srgb_icc() -> bytes:
    data = bytearray(_srgb_profile().tobytes())
    data[24:36] = struct.pack(">6H", *ICC_DATE)
    data[84:100] = bytes(16)  # the profile ID (an MD5 over the header) is optional; zero means "not computed"
    return bytes(data)


def _over_white(colour: np.ndarray, alpha: np.ndarray, *, premultiplied: bool) -> np.ndarray:
    # A style-transfer image has no alpha; white is what viewers show behind transparency.
    return colour + (1 - alpha) if premultiplied else colour * alpha + (1 - alpha)


def _to_three_channels(arr: np.ndarray) -> np.ndarray:
    if arr.ndim == 2:
        arr = arr[..., None]
    return np.repeat(arr, 3, axis=2) if arr.shape[2] == 1 else arr


def _array_to_tensor(arr: np.ndarray) -> torch.Tensor:
    import torch

    arr = np.clip(arr, 0.0, 1.0).astype(np.float32, copy=False)
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))[None]


def _array_to_pil(arr: np.ndarray) -> Image.Image:
    return Image.fromarray(np.round(np.clip(arr, 0.0, 1.0) * 255).astype(np.uint8))


# --------------------------------------------------------------------------------------------
# Resizing


def resize_long_side(t: torch.Tensor, size: int) -> torch.Tensor:
    """Resize so the longer side is ``size`` px, keeping the aspect ratio (each side >= 1 px)."""
    _check_resizable(t)
    _check_positive_int(size, "size")
    return resize_to(t, long_side_shape((t.shape[-2], t.shape[-1]), size))


def resize_to(t: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """Resize a (1, C, H, W) or (C, H, W) tensor to ``hw`` = (height, width); antialiased."""
    _check_resizable(t)
    if not isinstance(hw, (tuple, list)) or len(hw) != 2:
        raise ParameterError(f"hw: expected (height, width), got {hw!r}")
    _check_positive_int(hw[0], "height")
    _check_positive_int(hw[1], "width")
    import torch
    import torch.nn.functional as F

    x = t if t.dim() == 4 else t[None]
    if tuple(x.shape[-2:]) == tuple(hw):
        out = x.clamp(0, 1)
    else:
        # Bicubic with antialias filters before shrinking (no moire); it overshoots, so clamp.
        work = x if x.dtype in (torch.float32, torch.float64) else x.float()
        out = F.interpolate(
            work, size=tuple(hw), mode="bicubic", align_corners=False, antialias=True
        )
        out = out.clamp(0, 1).to(x.dtype)
    return out if t.dim() == 4 else out[0]


def _check_resizable(t: object) -> None:
    import torch

    if not isinstance(t, torch.Tensor) or t.dim() not in (3, 4) or not t.is_floating_point():
        raise ParameterError("image: expected a float (1, C, H, W) or (C, H, W) tensor")


def _check_positive_int(value: object, field: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ParameterError(f"{field}: must be a whole number of pixels >= 1, got {value!r}")


# --------------------------------------------------------------------------------------------
# Saving

_FORMAT_BY_SUFFIX = {
    ".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP",
    ".tif": "TIFF", ".tiff": "TIFF",
}
_DEFAULT_BIT_DEPTH = {"PNG": 8, "JPEG": 8, "WEBP": 8, "TIFF": 16}
_ENCODE_ERRORS = (OSError, ValueError, struct.error, png.Error)


def save_image(
    t: torch.Tensor,
    path: PathLike,
    *,
    bit_depth: int | None = None,
    quality: int = 95,
    protect: Iterable[PathLike] = (),
) -> Path:
    """Save atomically; the format comes from the suffix. Returns the path written.

    PNG is 8-bit unless ``bit_depth=16``; TIFF is 16-bit unless ``bit_depth=8``; JPEG (4:4:4)
    and WebP (lossy) are 8-bit and use ``quality``. Every file embeds an sRGB ICC profile.
    Refuses to write over any path in ``protect`` (the input images). Missing parent
    directories are created.
    """
    target = Path(path)
    fmt, bits = check_output_path(target, bit_depth=bit_depth, quality=quality, protect=protect)
    pixels = _quantise(t, bits)  # before touching the disk: a bad tensor leaves no trace
    write_atomically(target, lambda f: _ENCODERS[fmt](f, pixels, quality), errors=_ENCODE_ERRORS, what="image")
    return target


def save_array(
    pixels: np.ndarray, path: PathLike, *, quality: int = 95, protect: Iterable[PathLike] = ()
) -> Path:
    """Like :func:`save_image` (8-bit formats), for an (H, W, 3) float array in [0, 1]."""
    target = Path(path)
    fmt, bits = check_output_path(target, quality=quality, protect=protect)
    if not isinstance(pixels, np.ndarray) or pixels.ndim != 3 or pixels.shape[2] != 3 or min(pixels.shape[:2]) < 1:
        raise ParameterError(f"image: expected an (H, W, 3) array, got {getattr(pixels, 'shape', type(pixels).__name__)}")
    scale, dtype = (255, np.uint8) if bits == 8 else (65535, np.uint16)
    # One float copy, worked on in place: a chain of temporaries cost 20-30 ms of a 0.4 s command.
    work = np.array(pixels, dtype=np.float32)
    # fmax/fmin instead of nan_to_num + clip: they take the number over a NaN, so NaN -> 0 and
    # inf -> 1 in two passes; nan_to_num also builds masks of the infinities (6 of its 8 ms here).
    np.fmax(work, 0.0, out=work)
    np.fmin(work, 1.0, out=work)
    work *= scale
    quantised = np.rint(work, out=work).astype(dtype)  # round, not truncate
    write_atomically(target, lambda f: _ENCODERS[fmt](f, quantised, quality), errors=_ENCODE_ERRORS, what="image")
    return target


def encode_image(t: torch.Tensor, suffix: str, *, bit_depth: int | None = None, quality: int = 95) -> bytes:
    """The bytes :func:`save_image` would write to a file ending in ``suffix`` (e.g. ``.png``).

    For workers that send pictures over a network: the receiver writes them with :func:`save_bytes`.
    """
    fmt, bits = check_output_path(Path("image" + suffix), bit_depth=bit_depth, quality=quality)
    pixels = _quantise(t, bits)
    buffer = io.BytesIO()
    _ENCODERS[fmt](buffer, pixels, quality)
    return buffer.getvalue()


def save_bytes(data: bytes, path: PathLike, *, protect: Iterable[PathLike] = (), what: str = "file") -> Path:
    """Write ``data`` atomically (temp file + rename), never over a path in ``protect``.

    ``what`` names the content in error messages ("cannot write ONNX model (No space left…)").
    """
    target = Path(path)
    refuse_overwriting_inputs([target], protect)
    return write_atomically(target, data, what=what)


def check_output_path(
    path: PathLike, *, bit_depth: int | None = None, quality: int = 95, protect: Iterable[PathLike] = ()
) -> tuple[str, int]:
    """Raise the error :func:`save_image` would raise for this path, without writing anything.

    Front ends call it before a long run, so a bad output name fails in a second, not after it
    (with :func:`painterly.outputs.check_outputs`, which also proves the folder is writable).
    Returns the (format, bit depth) that would be written.
    """
    target = Path(path)
    name = _one_line(os.fsdecode(path))
    fmt = _output_format(target, name)
    bits = _output_bit_depth(fmt, bit_depth, name)
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
        raise ParameterError(f"quality: must be a whole number from 1 to 100, got {quality!r}")
    refuse_overwriting_inputs([target], protect)
    return fmt, bits


def _output_format(target: Path, name: str) -> str:
    suffix = target.suffix.lower()
    if suffix not in _FORMAT_BY_SUFFIX:
        what = f"output format '{suffix}'" if suffix else "output format (no file extension)"
        raise ImageError(f"{name}: unsupported {what}; use .png, .jpg, .webp or .tif")
    return _FORMAT_BY_SUFFIX[suffix]


def _output_bit_depth(fmt: str, bit_depth: int | None, name: str) -> int:
    if bit_depth is None:
        return _DEFAULT_BIT_DEPTH[fmt]
    if bit_depth not in (8, 16) or isinstance(bit_depth, bool):
        raise ParameterError(f"bit_depth: must be 8 or 16, got {bit_depth!r}")
    if bit_depth == 16 and fmt in ("JPEG", "WEBP"):
        raise ImageError(
            f"{name}: {fmt} cannot store 16 bits per channel; use .png or .tif for bit_depth=16"
        )
    return bit_depth


def _quantise(t: torch.Tensor, bits: int) -> np.ndarray:
    """(H, W, 3) uint8/uint16 from a (1, 3, H, W) or (3, H, W) tensor; the caller's is untouched."""
    import torch

    if not isinstance(t, torch.Tensor) or not t.is_floating_point():
        raise ParameterError("image: expected a float tensor with values in [0, 1]")
    x = t[0] if t.dim() == 4 and t.shape[0] == 1 else t
    if x.dim() != 3 or x.shape[0] != 3 or x.shape[1] < 1 or x.shape[2] < 1:
        shape = tuple(t.shape)
        raise ParameterError(f"image: expected shape (1, 3, H, W) or (3, H, W), got {shape}")
    # Out-of-place ops only: .to() may return the caller's own tensor.
    x = torch.nan_to_num(x.detach().to("cpu", torch.float32), nan=0.0).clamp(0, 1)
    scale, dtype = (255, np.uint8) if bits == 8 else (65535, np.uint16)
    return torch.round(x * scale).permute(1, 2, 0).numpy().astype(dtype)  # round, not truncate


def _encode_png(f: BinaryIO, pixels: np.ndarray, quality: int) -> None:
    if pixels.dtype == np.uint8:
        Image.fromarray(pixels).save(f, format="PNG", icc_profile=_srgb_icc())
        return
    h, w, _ = pixels.shape
    buf = io.BytesIO()
    rows = (row.tobytes() for row in pixels.astype(">u2").reshape(h, -1))  # PNG is big-endian
    png.Writer(w, h, greyscale=False, bitdepth=16).write_packed(buf, rows)
    data = buf.getvalue()
    # pypng cannot write iCCP, so splice it in right after IHDR (8 + 4 + 4 + 13 + 4 bytes), where
    # the PNG spec wants it: before IDAT. Profile name, NUL, method 0 (zlib), compressed profile.
    iccp = b"sRGB\0\0" + zlib.compress(_srgb_icc())
    crc = zlib.crc32(b"iCCP" + iccp)
    chunk = struct.pack(">I", len(iccp)) + b"iCCP" + iccp + struct.pack(">I", crc)
    f.write(data[:33] + chunk + data[33:])


def _encode_jpeg(f: BinaryIO, pixels: np.ndarray, quality: int) -> None:
    # subsampling=0 (4:4:4): stylised images are full of fine coloured strokes that 4:2:0 smears.
    # No optimize=True: its second, Huffman-table pass made a 1024x768 picture 5 % smaller and
    # took 14 ms more (19 against 5 ms), a twentieth of a whole `fast apply`.
    Image.fromarray(pixels).save(f, format="JPEG", quality=quality, subsampling=0, icc_profile=_srgb_icc())


def _encode_webp(f: BinaryIO, pixels: np.ndarray, quality: int) -> None:
    # Lossy: WebP is the small, shareable output; PNG and TIFF already cover lossless.
    Image.fromarray(pixels).save(f, format="WEBP", quality=quality, icc_profile=_srgb_icc())


def _encode_tiff(f: BinaryIO, pixels: np.ndarray, quality: int) -> None:
    import tifffile  # here, not at the top (see _read_tiff16)

    # Tag 34675 is the ICC profile (type 7, UNDEFINED); extratags works on old tifffile too.
    icc = _srgb_icc()
    tifffile.imwrite(
        f, pixels, photometric="rgb", compression="zlib", metadata=None,
        extratags=[(34675, 7, len(icc), icc, True)],
    )


_ENCODERS: dict[str, Callable[[BinaryIO, np.ndarray, int], None]] = {
    "PNG": _encode_png,
    "JPEG": _encode_jpeg,
    "WEBP": _encode_webp,
    "TIFF": _encode_tiff,
}


# --------------------------------------------------------------------------------------------
# Messages


