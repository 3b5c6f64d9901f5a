"""Property-based fuzzing (Hypothesis) of the two doors user input comes through.

- The image loader gets mutated bytes of real, generated images in every input format: it must
  return a valid tensor or raise ImageError with one line naming the file, nothing else.
- The CLI's options get arbitrary values: each either parses into settings inside their ranges,
  or is refused with exit code 2 and one line; never a traceback, never an out-of-range value.

Each test is bounded (max_examples, no deadline) so the suite stays fast.
"""

from __future__ import annotations

import dataclasses
import io
import math

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from painterly.cli import build_parser
from painterly.cli.common import dataclass_from_args
from painterly.errors import ImageError, ParameterError
from painterly.io import image_from_bytes
from painterly.params import StyleParams

from imagegen import photo


def _encoded(fmt: str, mode: str) -> bytes:
    buf = io.BytesIO()
    image = photo(40, 32).convert(mode)
    image.save(buf, fmt, **({"quality": 80} if fmt == "JPEG" else {}))
    return buf.getvalue()


SEEDS = [_encoded(fmt, mode) for fmt, mode in [
    ("PNG", "RGB"), ("PNG", "RGBA"), ("PNG", "P"), ("JPEG", "RGB"), ("JPEG", "CMYK"), ("GIF", "P"),
    ("WEBP", "RGB"), ("TIFF", "RGB"), ("BMP", "RGB"), ("PNG", "I;16"),
]]


@st.composite
def mutated_images(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        action = draw(st.sampled_from(["flip", "cut", "insert", "overwrite_header"]))
        if action == "flip" and data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif action == "cut":
            data = data[: draw(st.integers(0, len(data)))]
        elif action == "insert":
            i = draw(st.integers(0, len(data)))
            data[i:i] = draw(st.binary(min_size=1, max_size=16))
        else:  # headers hold the sizes and modes decoders trust most
            i = draw(st.integers(0, min(40, max(0, len(data) - 1))))
            data[i:i + 4] = draw(st.binary(min_size=4, max_size=4))
    return bytes(data)


@pytest.mark.slow
@given(mutated_images())
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_loader_on_mutated_images_returns_an_image_or_one_line(data):
    try:
        image = image_from_bytes(data, name="fuzzed.png", max_pixels=4_000_000)
    except ImageError as err:
        text = str(err)
        assert text.startswith("fuzzed.png: ") and "\n" not in text, text
        return
    assert image.dim() == 4 and image.shape[:2] == (1, 3) and image.shape[2] >= 1 and image.shape[3] >= 1
    assert bool(image.isfinite().all()) and float(image.min()) >= 0.0 and float(image.max()) <= 1.0


PARSER = build_parser()  # parse_args keeps no state between calls; building one takes ~50 ms
NUMERIC = [f for f in dataclasses.fields(StyleParams) if f.metadata.get("maximum") is not None]
values = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["nan", "inf", "-inf", "1e308", "", "0x10", "1_000", " 7 ", "１２"]),
    st.text(max_size=12),
)


@pytest.mark.slow
@given(st.sampled_from(NUMERIC), values)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_cli_option_values_parse_in_range_or_are_refused_in_one_line(capsys, field, value):
    parser = PARSER
    option = "--" + field.name.replace("_", "-")
    argv = ["stylize", "c.jpg", "s.jpg", "-o", "o.png", f"{option}={value}"]
    try:
        args = parser.parse_args(argv)
        params = dataclass_from_args(StyleParams, args).validate()
    except SystemExit as exit:
        err = capsys.readouterr().err
        assert exit.code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
        return
    except ParameterError as err:
        assert str(err).startswith(field.name + ":") and "\n" not in str(err)
        return
    got = getattr(params, field.name)
    for v in got if isinstance(got, list) else [got]:
        assert math.isfinite(v) and field.metadata["minimum"] <= v <= field.metadata["maximum"]


@pytest.mark.parametrize("command", [["fast", "apply", "starry-night", "in.jpg", "-o", "o.png"],
                                     ["explain", "dream", "in.jpg", "-o", "o.png"]])
@given(value=values)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_fast_and_explain_sizes_parse_in_range_or_are_refused(capsys, command, value):
    parser = PARSER
    try:
        args = parser.parse_args([*command, f"--size={value}"])
    except SystemExit as exit:
        err = capsys.readouterr().err
        assert exit.code == 2 and len(err.strip().splitlines()) == 1 and "--size" in err, err
        return
    assert args.size == 0 and command[0] == "fast" or 32 <= args.size <= 16384
