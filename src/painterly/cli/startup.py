"""What the CLI does before any heavy module is imported: quiet Ctrl-C, threads, then torch.

Importing torch takes a second or two. A Ctrl-C in that time raised KeyboardInterrupt somewhere
inside the import machinery and printed a traceback (issue 12); until torch is loaded, Ctrl-C
now ends the program at once with exit code 130 and one line. OpenMP reads its thread count and
wait policy when torch loads, so those are chosen here too (painterly.threads).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

from .._quiet_start import _exit_quietly
from ..threads import busy_cores, plan_threads, usable_cpus

THREADS_ENV = "PAINTERLY_THREADS"  # a number, or "auto"
WAIT_POLICY_ENV = "PAINTERLY_WAIT_POLICY"  # active, passive or auto


@contextlib.contextmanager
def quiet_interrupts() -> Iterator[None]:
    """Inside, Ctrl-C exits with 130 and one line; afterwards Ctrl-C raises KeyboardInterrupt again.

    The run itself needs KeyboardInterrupt (it stops the engine and keeps the best image so far).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, _exit_quietly)
    try:
        yield
    finally:
        restored = signal.default_int_handler if getattr(previous, "painterly_quiet", False) else previous
        signal.signal(signal.SIGINT, restored)


class _BusyCoresProbe:
    """Samples how busy the other cores are on a background thread.

    The sampling sleeps ~40 ms (threads.busy_cores); started first thing in ``main``, it overlaps
    the imports and argument checks instead of adding to them, which is a tenth of a whole
    `fast apply` command.
    """

    def __init__(self) -> None:
        self.value = 0.0
        self.thread = threading.Thread(target=self._sample, name="painterly-busy-cores", daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        self.value = busy_cores()

    def result(self) -> float:
        self.thread.join()
        return self.value


_probe: _BusyCoresProbe | None = None


def start_busy_cores_probe() -> None:
    """Start measuring the other programs' load now; :func:`configure_threads` uses the result."""
    global _probe
    _probe = _BusyCoresProbe()


def check_threads(threads: str | None = None) -> tuple[int | None, str | None]:
    """The thread count and OpenMP wait policy the user asked for (None: decide), checked.

    ``threads`` (the --threads flag) wins over PAINTERLY_THREADS; "auto" decides from the cores
    that are free when the threads are configured. ParameterError for a value out of range.
    """
    from ..errors import ParameterError

    wanted = threads or os.environ.get(THREADS_ENV) or "auto"
    policy = (os.environ.get(WAIT_POLICY_ENV) or "auto").lower()
    if policy not in ("auto", "active", "passive"):
        raise ParameterError(f"{WAIT_POLICY_ENV}: {policy!r} is not one of auto, active, passive")
    count = None
    if wanted != "auto":
        if not wanted.isdigit() or not 1 <= int(wanted) <= 1024:
            raise ParameterError(f"threads: {wanted!r} is not auto or a whole number from 1 to 1024")
        count = int(wanted)
    if "OMP_NUM_THREADS" in os.environ and count is None:
        count = int(os.environ["OMP_NUM_THREADS"]) if os.environ["OMP_NUM_THREADS"].isdigit() else None
    user_policy = None if policy == "auto" else policy
    return count, user_policy or os.environ.get("OMP_WAIT_POLICY")


def configure_threads(threads: str | None = None) -> int:
    """Set OMP_NUM_THREADS / OMP_WAIT_POLICY for this process unless the user already did
    (the choice :func:`check_threads` describes) and return the thread count; "auto" counts the
    busy cores now, or takes the probe's count when :func:`start_busy_cores_probe` ran."""
    count, policy = check_threads(threads)
    busy = _probe.result() if _probe is not None else busy_cores()
    plan = plan_threads(usable_cpus(), busy, threads=count, wait_policy=policy)
    os.environ["OMP_NUM_THREADS"] = str(plan.threads)
    os.environ["OMP_WAIT_POLICY"] = plan.wait_policy
    return plan.threads


def load_torch() -> None:
    """Import torch (and its OpenMP runtime) now, while Ctrl-C still exits quietly."""
    import torch

    # torch sizes its intra-op pool from the environment only in some builds; say it directly.
    threads = os.environ.get("OMP_NUM_THREADS", "")
    if threads.isdigit() and int(threads) > 0:
        torch.set_num_threads(int(threads))
    skip_lazy_dynamo_import()


def skip_lazy_dynamo_import() -> None:
    """Keep torch.optim from importing torch._dynamo, which the program never uses.

    torch marks some Optimizer methods as "not for torch.compile" with a wrapper that imports
    torch._dynamo (and sympy) on the first call, only to build that mark: 1-2 s of a 17 s draft run,
    paid when L-BFGS is created (add_param_group). The wrapper caches the marked function on the
    original; giving it the original itself skips the import. Only the painterly program does
    this (it never compiles); a library user's process is left as torch made it.
    """
    from torch.optim import Optimizer

    for name in ("add_param_group", "zero_grad", "state_dict", "load_state_dict"):
        original = getattr(getattr(Optimizer, name), "__wrapped__", None)
        if original is not None and not hasattr(original, "__dynamo_disable"):
            setattr(original, "__dynamo_disable", original)
