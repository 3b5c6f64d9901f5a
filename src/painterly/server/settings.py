"""The settings of `painterly serve`: one typed description, read by the CLI (its options and
their ranges), the server's own defaults (jobs.Settings, schema.Limits, app.ServerConfig) and the
table in docs/serve.md (tests/test_settings.py keeps that table in step).

Light on purpose (no FastAPI, no torch): `painterly serve --help` reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..images import MIN_SIDE
from ..params import MAX_SIZE, MAX_STEPS, check_fields, option

MB = 2**20


@dataclass
class ServeSettings:
    host: str = option("127.0.0.1", "address to listen on; 0.0.0.0 lets other machines in (there is no login)")
    port: int = option(8000, "port to listen on; 0 picks a free one", minimum=0, maximum=65535)
    queue: int = option(8, "jobs that may wait; more are refused (HTTP 429)", minimum=1, maximum=10_000, metavar="N")
    idle_timeout: float = option(
        120.0, "cancel a job when no page or client has watched it for this long (0: never)",
        minimum=0.0, maximum=86400.0, metavar="SECONDS",
    )
    max_upload_mb: float = option(20.0, "largest upload per image", minimum=0.01, maximum=4096.0, metavar="MB")
    max_megapixels: float = option(30.0, "most pixels per uploaded image", minimum=0.001, maximum=1000.0, metavar="MP")
    max_size: int = option(1024, "largest output size clients may ask for", minimum=MIN_SIDE, maximum=MAX_SIZE, metavar="PX")
    max_iterations: int = option(1000, "most iterations clients may ask for", minimum=1, maximum=MAX_STEPS, metavar="N")
    results_dir: str | None = option(
        None, "where the temporary results folder is made (default: the system's temp dir); "
        "it is deleted when the server stops", metavar="DIR",
    )
    results_cap_mb: float = option(
        500.0, "disk space for results; the oldest are deleted beyond it", minimum=1.0, maximum=1e7, metavar="MB"
    )
    preview_interval: float = option(
        0.5, "time between two preview images of a running job", minimum=0.0, maximum=3600.0, metavar="SECONDS"
    )

    def validate(self) -> ServeSettings:
        check_fields(self)
        return self

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * MB)

    @property
    def max_pixels(self) -> int:
        return int(self.max_megapixels * 1e6)

    @property
    def results_cap_bytes(self) -> int:
        return int(self.results_cap_mb * MB)


DEFAULTS = ServeSettings()
