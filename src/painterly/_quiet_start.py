"""Ctrl-C while the `painterly` program starts: exit 130 with one line, not a traceback.

Runs on ``import painterly`` but acts only when painterly is the program itself (the console
script, or ``python -m painterly``), never when a library user imports it. The CLI hands Ctrl-C
back to KeyboardInterrupt once torch has loaded (cli/startup.py), so a run still stops with the
best image so far.
"""

import os
import signal
import sys
import threading


def _exit_quietly(signum: int, frame: object) -> None:
    sys.stderr.write("painterly: interrupted\n")
    sys.stderr.flush()
    os._exit(130)


_exit_quietly.painterly_quiet = True  # type: ignore[attr-defined]


def install_if_program() -> None:
    argv0 = sys.argv[0] if sys.argv else ""
    # "-m" is argv[0] while `python -m painterly` imports the package; the script is .../painterly.
    is_program = argv0 == "-m" or os.path.basename(argv0) == "painterly"
    if is_program and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _exit_quietly)
