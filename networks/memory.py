"""Peak memory of a stretch of work (an epoch), for the run's history and the benchmarks.

Linux keeps a process's peak resident memory (``VmHWM``) and lets it be reset by
writing 5 to ``/proc/self/clear_refs``, so each epoch gets its own peak. Elsewhere
the peak since the process started (``getrusage``) is the best there is.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR = Path("/proc/self/clear_refs")


def reset_peak() -> bool:
    """Start measuring a new peak; False where only the process's lifetime peak exists.

    Returns
    -------
    reset : bool
    """
    try:
        _CLEAR.write_text("5")
        return True
    except OSError:
        return False


def peak_mb() -> float:
    """The peak resident memory (MB) since `reset_peak`, or since the process started.

    Returns
    -------
    peak : float
    """
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024 if sys.platform == "darwin" else 1024)
