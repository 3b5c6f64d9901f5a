"""The web form and the HTTP API's parameters, derived from the :class:`StyleParams` dataclass.

Nothing here lists the parameters by hand: every dataclass field becomes a form control and an
accepted JSON key, with the field's default, help text, choices and minimum. A field added to
``StyleParams`` later shows up in the page and the API without a change here. What this module
adds is presentation (labels, which controls sit above the fold, a log scale for weights) and the
server's own limits (largest size, most iterations, no server-side file paths).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass
from typing import Any

from ..errors import ParameterError
from ..params import INITS, StyleParams, check_range
from .settings import DEFAULTS

# Shown above the fold, in this order, when the field exists; every other field goes under
# "Advanced". A field can choose its group itself with metadata ui="main" / "advanced" / "hidden".
MAIN_FIELDS = (
    "strength", "style_weight", "size", "quality", "preset", "quality_preset",
    "preserve_colors", "preserve_colours", "model", "iterations",
)

# Presentation only; defaults, help and limits still come from the dataclass.
UI_HINTS: dict[str, dict[str, Any]] = {
    # Style weight spans orders of magnitude, so its slider moves on a log scale.
    "style_weight": {"label": "Style strength", "widget": "log-slider", "slider_min": 0.1, "slider_max": 1000.0},
    "strength": {"label": "Style strength", "step": 0.05},
    "preserve_colors": {"label": "Keep the photo's colours"},
    "size": {"label": "Size (long side, px)", "step": 16},
    "iterations": {"label": "Steps per level"},
    "model": {"label": "Backbone"},
    "pyramid_start": {"label": "Pyramid start (px)"},
    "tv_weight": {"label": "Smoothness (TV) weight"},
    "chroma_tv_weight": {"label": "Colour smoothness weight"},
    "shading_weight": {"label": "Keep the photo's light and shade"},
    "style_statistic": {"label": "Style statistic"},
    "activation_smoothing": {"label": "Activation smoothing"},
    "average": {"label": "Iterate averaging (decay)"},
    "init": {"label": "Start from", "help": "start image: the photo (content), noise, or a mix of both"},
}

# Server-owned fields: the worker's device comes from `painterly serve --device`.
HIDDEN_FIELDS = ("device",)


@dataclass(frozen=True)
class Limits:
    """What a client of this server may ask for, on top of the dataclass's own checks."""

    max_size: int = DEFAULTS.max_size
    max_iterations: int = DEFAULTS.max_iterations
    max_styles: int = 4


def field_types(cls: type = StyleParams) -> dict[str, tuple[str, bool]]:
    """Field name -> (kind, nullable); kind is int, float, bool, str, list[int|float|str] or json."""
    hints = typing.get_type_hints(cls)
    return {f.name: _kind(hints[f.name]) for f in dataclasses.fields(cls)}


def _kind(hint: Any) -> tuple[str, bool]:
    nullable = False
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        nullable = len(args) < len(typing.get_args(hint))
        hint = args[0] if len(args) == 1 else Any
    if typing.get_origin(hint) is typing.Literal:
        values = typing.get_args(hint)
        hint = type(values[0]) if values else str
    if typing.get_origin(hint) is list:
        inner = _kind(typing.get_args(hint)[0])[0]
        return f"list[{inner}]", nullable
    for t in (bool, int, float, str):  # bool first: it is an int too
        if hint is t:
            return t.__name__, nullable
    return "json", nullable


def _choices(f: dataclasses.Field, hint: Any, limits: Limits) -> list[Any] | None:
    if f.name == "model":
        from ..backbones import list_backbones

        return [spec.name for spec in list_backbones()]
    if f.name == "init":
        return list(INITS)  # a path would name a file on the server: not for web clients
    if "choices" in f.metadata:
        return list(f.metadata["choices"])
    inner = hint
    if typing.get_origin(inner) in (typing.Union, types.UnionType):
        inner = next(a for a in typing.get_args(inner) if a is not type(None))
    if typing.get_origin(inner) is typing.Literal:
        return list(typing.get_args(inner))
    return None


def _maximum(f: dataclasses.Field, limits: Limits) -> float | None:
    if f.name == "size":
        return limits.max_size
    if f.name == "iterations":
        return limits.max_iterations
    return f.metadata.get("maximum")


def _group(name: str, metadata: Any, names: set[str]) -> str:
    if name in HIDDEN_FIELDS:
        return "hidden"
    if metadata.get("ui") in ("main", "advanced", "hidden"):
        return metadata["ui"]
    if name == "style_weights":
        return "styles"  # set by the weight slider of each style image
    if name == "style_weight" and "strength" in names:
        return "advanced"  # a dedicated strength control has landed; the raw weight is for experts
    return "main" if name in MAIN_FIELDS else "advanced"


def describe(cls: type = StyleParams, limits: Limits = Limits()) -> list[dict[str, Any]]:
    """One JSON-ready description per dataclass field, in the order the form shows them."""
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)
    names = {f.name for f in fields}
    out = []
    for f in fields:
        kind, nullable = _kind(hints[f.name])
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None
        )
        hint = dict(UI_HINTS.get(f.name, {}))
        if f.name == "style_weight" and "strength" in names:
            hint.pop("label", None)
        d: dict[str, Any] = {
            "name": f.name,
            "type": kind,
            "nullable": nullable,
            "default": default,
            "help": hint.pop("help", f.metadata.get("help", "")),
            "label": hint.pop("label", f.name.replace("_", " ").capitalize()),
            "group": _group(f.name, f.metadata, names),
        }
        choices = _choices(f, hints[f.name], limits)
        if choices is not None:
            d["choices"] = choices
        if f.metadata.get("minimum") is not None:
            d["minimum"] = f.metadata["minimum"]
        maximum = _maximum(f, limits)
        if maximum is not None:
            d["maximum"] = maximum
        d["widget"] = hint.pop("widget", None) or _widget(kind, d)
        d.update(hint)
        out.append(d)
    order = {name: i for i, name in enumerate(MAIN_FIELDS)}
    out.sort(key=lambda d: (d["group"] != "main", order.get(d["name"], len(order)) if d["group"] == "main" else 0))
    return out


def _widget(kind: str, d: dict[str, Any]) -> str:
    if "choices" in d:
        return "select"
    if kind == "bool":
        return "checkbox"
    if kind in ("int", "float") and "minimum" in d and "maximum" in d and not d["nullable"]:
        return "slider"
    if kind in ("int", "float"):
        return "number"
    if kind.startswith("list["):
        return "list"
    return "text"


def parse_params(data: Any, cls: type = StyleParams, limits: Limits = Limits()) -> Any:
    """A validated ``cls`` from a JSON object sent by a client; ParameterError names the field.

    Fields left out keep their dataclass default. Types are checked strictly (JSON has types, so a
    string where a number belongs is a mistake worth reporting), except that numeric strings from
    HTML forms are accepted for numbers and "true"/"false" for booleans.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ParameterError("params: expected a JSON object of parameters", field="params")
    described = {d["name"]: d for d in describe(cls, limits)}
    values: dict[str, Any] = {}
    for name, raw in data.items():
        if not isinstance(name, str) or name not in described:
            valid = ", ".join(n for n, d in described.items() if d["group"] != "hidden")
            if isinstance(name, str) and name.isidentifier():
                raise ParameterError(f"{name}: unknown parameter; valid: {valid}", field=name)
            # An empty or odd key cannot be the field a message starts with: blame the object.
            raise ParameterError(f"params: unknown parameter {_show(name)}; valid: {valid}", field="params")
        d = described[name]
        if d["group"] == "hidden":
            raise ParameterError(f"{name}: is set by the server (painterly serve --{name.replace('_', '-')})", field=name)
        values[name] = _coerce(name, raw, d)
    params = cls(**values)
    params.validate()
    for name, d in described.items():  # the server's caps and restricted choices
        value = getattr(params, name)
        if value is None:
            continue
        if "choices" in d and value not in d["choices"] and name in values:
            raise ParameterError(f"{name}: {value!r} is not one of {', '.join(map(str, d['choices']))}", field=name)
        if "maximum" in d:
            for v in value if isinstance(value, list) else [value]:
                if isinstance(v, (int, float)) and v > d["maximum"]:
                    raise ParameterError(f"{name}: {v} is above the maximum {d['maximum']}", field=name)
    return params


def _coerce(name: str, raw: Any, d: dict[str, Any]) -> Any:
    kind = d["type"]
    if raw is None:
        if d["nullable"]:
            return None
        raise ParameterError(f"{name}: must not be null", field=name)
    if kind.startswith("list["):
        if not isinstance(raw, list):
            raise ParameterError(f"{name}: expected a list, got {_json_type(raw)}", field=name)
        inner = kind[5:-1]
        if len(raw) > 64:
            raise ParameterError(f"{name}: at most 64 values, got {len(raw)}", field=name)
        values = [_scalar(name, v, inner) for v in raw]
        if inner in ("int", "float"):
            for v in values:
                check_range(name, v, d.get("minimum"), d.get("maximum"))
        return values
    if kind == "json":
        return raw
    value = _scalar(name, raw, kind)
    if kind in ("int", "float"):
        # The dataclass's range (and the server's caps), before anything else sees the number:
        # 1e308 as a size is refused as "1e+308", not echoed as 309 digits.
        check_range(name, value, d.get("minimum"), d.get("maximum"))
    return value


def _scalar(name: str, raw: Any, kind: str) -> Any:
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        raise ParameterError(f"{name}: expected true or false, got {_show(raw)}", field=name)
    if kind in ("int", "float"):
        value = raw
        if isinstance(raw, str):
            try:
                value = float(raw.strip())
            except ValueError:
                raise ParameterError(f"{name}: expected a number, got {_show(raw)}", field=name) from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParameterError(f"{name}: expected a number, got {_show(raw)}", field=name)
        if not math.isfinite(value):
            raise ParameterError(f"{name}: expected a finite number, got {_show(raw)}", field=name)
        if kind == "int":
            if isinstance(value, float) and abs(value) > 2**63:
                raise ParameterError(f"{name}: {value:.3g} is out of range", field=name)
            if value != int(value):
                raise ParameterError(f"{name}: expected a whole number, got {_show(raw)}", field=name)
            return int(value)
        return float(value)
    if kind == "str":
        if not isinstance(raw, str):
            raise ParameterError(f"{name}: expected a string, got {_show(raw)}", field=name)
        if len(raw) > 2000:
            raise ParameterError(f"{name}: is longer than 2000 characters", field=name)
        return raw
    return raw


def _json_type(raw: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(type(raw), "a number")


def _show(raw: Any) -> str:
    text = repr(raw)
    return text if len(text) <= 40 else text[:37] + "..."


def params_json_schema(cls: type = StyleParams, limits: Limits = Limits()) -> dict[str, Any]:
    """The JSON Schema of the ``params`` object, from the same ranges the CLI checks.

    Served in the OpenAPI document, so a client (or Schemathesis) knows every bound up front.
    """
    properties: dict[str, Any] = {}
    for d in describe(cls, limits):
        if d["group"] == "hidden":
            continue
        kind = d["type"]
        if kind.startswith("list["):
            inner = _json_type_name(kind[5:-1])
            item: dict[str, Any] = {"type": inner}
            _bounds(item, d)
            prop: dict[str, Any] = {"type": "array", "items": item, "minItems": 1, "maxItems": 64}
        else:
            prop = {"type": _json_type_name(kind)}
            _bounds(prop, d)
            if "choices" in d:
                prop["enum"] = list(d["choices"])
            if kind == "str":
                prop["maxLength"] = 2000
        if d["nullable"]:
            prop = {"anyOf": [prop, {"type": "null"}]}
        prop["description"] = d["help"]
        properties[d["name"]] = prop
    return {"type": "object", "properties": properties, "additionalProperties": False}


def _json_type_name(kind: str) -> str:
    return {"int": "integer", "float": "number", "bool": "boolean", "str": "string"}.get(kind, "string")


def _bounds(prop: dict[str, Any], d: dict[str, Any]) -> None:
    if d["type"].endswith(("int", "float", "int]", "float]")):
        if "minimum" in d:
            prop["minimum"] = d["minimum"]
        if "maximum" in d:
            prop["maximum"] = d["maximum"]
