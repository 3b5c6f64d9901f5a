"""`painterly serve`: a local web app with a live preview of the optimisation (see docs/serve.md)."""

from .app import ServerConfig, create_app

__all__ = ["ServerConfig", "create_app"]
