"""`painterly serve`: the web app with a live preview, on http://127.0.0.1:8000/ by default."""

from __future__ import annotations

import argparse
import ipaddress
import socket
import sys

from ..errors import PainterlyError
from ..params import DEVICES, MAX_SIZE, MAX_STEPS
from .common import in_range, sigterm_as_interrupt

MB = 2**20
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="start the web app: upload a photo and artworks, watch the picture being painted",
        description="Start a local web server with a page to make pictures and an HTTP API "
        "(see docs/serve.md). Only this computer can reach it unless --host says otherwise.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on; 0.0.0.0 lets other machines in (there is no login)")
    parser.add_argument("--port", type=in_range(int, "--port", (0, 65535)), default=8000, help="port to listen on; 0 picks a free one")
    parser.add_argument("--device", action="append", choices=DEVICES, metavar="DEVICE", default=argparse.SUPPRESS,
                        help="device of a worker (auto, cpu, cuda, mps); repeat it for one worker per "
                        "device (default: one worker on auto)")
    parser.add_argument("--queue", type=in_range(int, "--queue", (0, 10_000)), default=8, metavar="N", help="jobs that may wait; more are refused (HTTP 429)")
    parser.add_argument("--idle-timeout", type=in_range(float, "--idle-timeout", (0.0, 86400.0)), default=120.0, metavar="SECONDS",
                        help="cancel a job when no page or client has watched it for this long (0: never)")
    parser.add_argument("--max-upload-mb", type=in_range(float, "--max-upload-mb", (0.01, 4096.0)), default=20.0, metavar="MB", help="largest upload per image")
    parser.add_argument("--max-megapixels", type=in_range(float, "--max-megapixels", (0.001, 1000.0)), default=30.0, metavar="MP", help="most pixels per uploaded image")
    parser.add_argument("--max-size", type=in_range(int, "--max-size", (32, MAX_SIZE)), default=1024, metavar="PX", help="largest output size clients may ask for")
    parser.add_argument("--max-iterations", type=in_range(int, "--max-iterations", (1, MAX_STEPS)), default=1000, metavar="N", help="most iterations clients may ask for")
    parser.add_argument("--results-dir", metavar="DIR",
                        help="where the temporary results folder is made (default: the system's temp dir); "
                        "it is deleted when the server stops")
    parser.add_argument("--results-cap-mb", type=in_range(float, "--results-cap-mb", (1.0, 10**7)), default=500.0, metavar="MB",
                        help="disk space for results; the oldest are deleted beyond it")
    parser.add_argument("--preview-interval", type=in_range(float, "--preview-interval", (0.0, 3600.0)), default=0.5, metavar="SECONDS",
                        help="time between two preview images of a running job")
    parser.add_argument("--open", action="store_true", help="open the page in the default web browser")
    parser.add_argument("--library", action="append", default=[], metavar="DIR",
                        help="serve the Library page (/library) over this folder of images, indexed at start "
                        "(repeatable); pages can search only these folders")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # Imported here so `painterly --help` stays quick.
    import uvicorn

    from ..devices import resolve_device
    from ..server.app import ServerConfig, create_app
    from ..server.jobs import Settings
    from ..server.schema import Limits
    from .search import index_libraries

    devices = tuple(getattr(args, "device", None) or ["auto"])
    for d in devices:
        resolve_device(d)  # an unavailable device fails now, not in the first job
    for name in ("queue", "max_size", "max_iterations"):
        if getattr(args, name) < 1:
            raise PainterlyError(f"--{name.replace('_', '-')}: must be at least 1")
    if args.max_size < 32:
        raise PainterlyError("--max-size: must be at least 32")
    for name in ("max_upload_mb", "max_megapixels", "results_cap_mb"):
        if not getattr(args, name) > 0:
            raise PainterlyError(f"--{name.replace('_', '-')}: must be more than 0")
    if args.idle_timeout < 0:
        raise PainterlyError("--idle-timeout: must be 0 (never) or more")

    loopback = _is_loopback(args.host)
    config = ServerConfig(
        jobs=Settings(
            devices=devices,
            max_queue=args.queue,
            idle_timeout=args.idle_timeout,
            results_dir=args.results_dir,
            results_cap_bytes=int(args.results_cap_mb * MB),
            preview_interval=max(0.0, args.preview_interval),
        ),
        limits=Limits(max_size=args.max_size, max_iterations=args.max_iterations),
        max_upload_bytes=int(args.max_upload_mb * MB),
        max_pixels=int(args.max_megapixels * 1e6),
        # On loopback, refuse other Host names: a web page elsewhere cannot reach in by DNS rebinding.
        allowed_hosts=(*LOOPBACK_NAMES, args.host) if loopback else None,
        libraries=tuple(index_libraries(args.library)),
    )
    sock = _listen(args.host, args.port)
    port = sock.getsockname()[1]
    shown = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host
    url = f"http://{f'[{shown}]' if ':' in shown else shown}:{port}/"
    print(f"painterly serve: open {url} in a web browser (Ctrl-C stops the server)", flush=True)
    print(f"  workers: {', '.join(devices)}; queue: {args.queue}; results in a temp folder, "
          f"at most {args.results_cap_mb:g} MB", flush=True)
    if not loopback:
        print(f"  listening on {args.host}: other machines can use this server and there is no login",
              file=sys.stderr, flush=True)
    if args.open:
        import webbrowser

        webbrowser.open(url)
    server = uvicorn.Server(uvicorn.Config(create_app(config), log_level="warning", access_log=False,
                                           timeout_graceful_shutdown=5))
    try:
        with sigterm_as_interrupt():
            server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn re-raises Ctrl-C / SIGTERM after its graceful shutdown; that is our normal end
    print("painterly serve: stopped", file=sys.stderr)
    return 0


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _listen(host: str, port: int) -> socket.socket:
    if not 0 <= port <= 65535:
        raise PainterlyError(f"--port: {port} is not a port number (0-65535)")
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as err:
        raise PainterlyError(f"--host: cannot resolve {host!r} ({err.strerror})") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as err:
        sock.close()
        hint = "; is another server running there? try --port 0" if port else ""
        raise PainterlyError(f"--port: cannot listen on {host}:{port} ({err.strerror}){hint}") from None
    sock.set_inheritable(True)
    return sock
