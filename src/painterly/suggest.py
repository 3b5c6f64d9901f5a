"""'Did you mean' hints for mistyped names (models, layers, presets)."""

from __future__ import annotations

from collections.abc import Iterable


def did_you_mean(name: str, choices: Iterable[str], *, limit: int = 3) -> str:
    """Return ' (did you mean X?)' for the closest choices, or '' if none is close."""
    import difflib  # here: only a mistake needs it, and it is ~1.5 ms of every start

    choices = list(choices)
    close = difflib.get_close_matches(name, choices, n=limit, cutoff=0.5)
    if not close:
        return ""
    # difflib breaks ties by reverse string order (lite2 before lite0): list equally close
    # choices in the order they were given instead.
    score = {c: difflib.SequenceMatcher(None, name, c).ratio() for c in close}
    close.sort(key=lambda c: (-score[c], choices.index(c)))
    return " (did you mean " + " or ".join(repr(c) for c in close) + "?)"


def unknown_name_message(kind: str, name: str, choices: Iterable[str]) -> str:
    """One line: unknown <kind> 'name' (did you mean …?); valid: a, b, c."""
    choices = list(choices)
    shown = ", ".join(choices[:12]) + (", …" if len(choices) > 12 else "")
    return f"unknown {kind} {name!r}{did_you_mean(name, choices)}; valid: {shown}"
