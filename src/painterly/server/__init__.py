"""`painterly serve`: a local web app with a live preview of the optimisation (see docs/serve.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import ServerConfig, create_app

__all__ = ["ServerConfig", "create_app"]


def __getattr__(name: str) -> Any:
    # FastAPI loads only when the app is made, so `painterly serve --help` (which reads
    # server.settings) stays quick.
    if name in __all__:
        from . import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
