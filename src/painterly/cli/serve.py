"""`painterly serve`: the web app with a live preview, on http://127.0.0.1:8000/ by default."""

from __future__ import annotations

import argparse
import ipaddress
import socket
import sys

from ..errors import PainterlyError
from ..params import DEVICES
from ..server.settings import ServeSettings
from .common import Subparsers, add_dataclass_options, dataclass_from_args, sigterm_as_interrupt

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="start the web app: upload a photo and artworks, watch the picture being painted",
        description="Start a local web server with a page to make pictures and an HTTP API "
        "(see docs/serve.md). Only this computer can reach it unless --host says otherwise.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_dataclass_options(parser, ServeSettings, check_ranges=True)
    parser.add_argument("--device", action="append", choices=DEVICES, metavar="DEVICE", default=argparse.SUPPRESS,
                        help="device of a worker (auto, cpu, cuda, mps); repeat it for one worker per "
                        "device (default: one worker on auto)")
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

    settings = dataclass_from_args(ServeSettings, args).validate()
    devices = tuple(getattr(args, "device", None) or ["auto"])
    for d in devices:
        resolve_device(d)  # an unavailable device fails now, not in the first job

    loopback = _is_loopback(args.host)
    config = ServerConfig(
        jobs=Settings(
            devices=devices,
            max_queue=settings.queue,
            idle_timeout=settings.idle_timeout,
            results_dir=settings.results_dir,
            results_cap_bytes=settings.results_cap_bytes,
            preview_interval=settings.preview_interval,
        ),
        limits=Limits(max_size=settings.max_size, max_iterations=settings.max_iterations),
        max_upload_bytes=settings.max_upload_bytes,
        max_pixels=settings.max_pixels,
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
