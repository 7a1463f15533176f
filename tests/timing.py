"""How long a call costs, measured so that a loaded machine does not fail a test.

Guards against catastrophic regular expressions and accidental quadratic loops must still fail
when the code regresses, yet not when CI shares its cores with other jobs or the collector
happens to sweep a large heap mid-call (a CI run once took 0.74 s of wall time for a check that
costs 0.01 s). So the measure is the CPU time of this thread (other processes do not count),
with the garbage collector paused, and the best of a few runs: a real regression is slow on
every run, noise is not.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable


def cpu_seconds(call: Callable[[], object], repeat: int = 3) -> float:
    """The least CPU time, in seconds, that ``call()`` took over ``repeat`` runs."""
    best = float("inf")
    enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeat):
            start = time.thread_time()
            call()
            best = min(best, time.thread_time() - start)
    finally:
        if enabled:
            gc.enable()
    return best
