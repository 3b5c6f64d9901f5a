import os
import signal
import sys


def _exit_quietly(signum, frame):  # the CLI's own handler (cli/startup.py) takes over in main()
    sys.stderr.write("painterly: interrupted\n")
    sys.stderr.flush()
    os._exit(130)


_exit_quietly.painterly_quiet = True  # type: ignore[attr-defined]
signal.signal(signal.SIGINT, _exit_quietly)  # before the CLI's imports: a Ctrl-C now exits quietly too

from .cli import main  # noqa: E402

sys.exit(main())
