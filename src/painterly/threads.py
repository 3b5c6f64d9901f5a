"""How many threads torch should use, and how they wait, on a machine that may be busy.

Torch's OpenMP threads spin while they wait for each other at the end of every operation. Alone
on a machine that is fastest; beside other busy processes the spinning threads steal the cores
the working ones need, and EfficientNet-Lite0's many small operations make it pay at every one
of them: with one other painterly run on a 2-core machine the default 512 px run took 19x its
time alone (issue 12). Passive waiting, and no more threads than there are free cores, keep a
busy machine's slowdown near the fair share (benchmarks/contention.py, docs/reliability.md).

The CLI decides once at start-up, before torch is imported (OpenMP reads its settings then);
this module only computes the decision, so it can be tested and reused.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class ThreadPlan:
    threads: int
    wait_policy: str  # "ACTIVE" or "PASSIVE", as OMP_WAIT_POLICY spells it
    reason: str


def plan_threads(cpus: int, busy: float, *, threads: int | None = None, wait_policy: str | None = None) -> ThreadPlan:
    """Threads and wait policy for ``cpus`` usable cores of which about ``busy`` are taken by others.

    ``threads`` / ``wait_policy`` are the user's choice (flag or environment) and win.
    """
    cpus = max(1, cpus)
    free = max(1, min(cpus, round(cpus - busy)))
    crowded = busy >= 0.5
    chosen_threads = threads if threads is not None else (free if crowded else cpus)
    chosen_policy = (wait_policy or ("PASSIVE" if crowded else "ACTIVE")).upper()
    if threads is not None or wait_policy is not None:
        reason = "as asked"
    elif crowded:
        reason = f"{busy:.1f} of {cpus} cores busy"
    else:
        reason = f"{cpus} idle cores"
    return ThreadPlan(max(1, chosen_threads), chosen_policy, reason)


def usable_cpus() -> int:
    """Cores this process may run on (its affinity mask, e.g. under taskset or a container)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def busy_cores(samples: int = 5, interval: float = 0.01) -> float:
    """How many cores other processes keep busy now: the processes runnable at this instant
    (/proc/loadavg), the median of a few samples 10 ms apart.

    Not the load average: it trails by a minute, so a run started right after another one had
    finished saw a "busy" machine and took one passive thread on two idle cores (75.6 s instead of
    ~59 s for the default 512 px run, benchmarks/presets.py).
    """
    import time

    counts = []
    for i in range(samples):
        try:
            with open("/proc/loadavg") as f:
                running = f.read().split()[3].split("/")[0]
            counts.append(max(0, int(running) - _own_running_threads()))
        except (OSError, IndexError, ValueError):
            return 0.0
        if i < samples - 1:
            time.sleep(interval)
    return float(sorted(counts)[len(counts) // 2])  # the median of an odd count (statistics costs 8 ms to import)


def _own_running_threads() -> int:
    """This process's runnable threads, which /proc/loadavg counts too: the sampling thread, and
    the main thread when it samples from a background thread while it imports (cli/startup.py)."""
    running = 0
    try:
        with os.scandir("/proc/self/task") as tasks:
            for task in tasks:
                try:
                    with open(f"{task.path}/stat") as f:
                        # "pid (comm) S ...": the state follows the last ')' (comm may hold spaces).
                        running += f.read().rpartition(")")[2].split()[0] == "R"
                except (OSError, IndexError):
                    continue  # a thread that has just ended
    except OSError:
        return 1
    return max(1, running)
