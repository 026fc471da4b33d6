"""Peak memory of a stretch of work (an epoch), for the run's history and the benchmarks.

Linux keeps a process's peak resident memory (``VmHWM``) and lets it be reset by
writing 5 to ``/proc/self/clear_refs``, so each epoch gets its own peak. Elsewhere
the peak since the process started (``getrusage``) is the best there is.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

import numpy as np

from nengo_mif.exceptions import ConfigError

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


#: values held per layer output per step and image while a batch runs over time: a
#: little above the measured 1.26 (mnist_cnn, LIF, batch 50, 300 steps: 2.7 GB above
#: the process's 0.7 GB)
_VALUES_PER_NEURON_STEP = 1.5


def available_mb() -> float | None:
    """The memory this machine can still give (``MemAvailable``), or None where unknown.

    Returns
    -------
    mb : float or None
    """
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def presentation_mb(model, n_steps: int, batch_size: int, n_images: int) -> float:
    """The memory (MB) a spiking presentation of ``model`` holds at once, estimated.

    A batch runs all its steps in one pass, so every layer's activity over the whole
    presentation is held: ``n_steps x batch x neurons x 1.5`` values of 4 bytes, plus the
    output of every image at every step.

    Returns
    -------
    mb : float
    """
    values = sum(int(np.prod(layer.output.shape[1:])) for layer in model.layers)
    batch = min(batch_size, n_images)
    per_batch = n_steps * batch * values * _VALUES_PER_NEURON_STEP
    outputs = n_images * n_steps * int(np.prod(model.output.shape[1:]))
    return 4 * (per_batch + outputs) / 2**20


def check_presentation_fits(model, n_steps: int, batch_size: int, n_images: int) -> None:
    """Refuse, before the work, a presentation that would need more memory than is free.

    Raises
    ------
    ConfigError
        With the estimate and the settings that lower it.
    """
    need, free = presentation_mb(model, n_steps, batch_size, n_images), available_mb()
    if free is not None and need > 0.8 * free:
        raise ConfigError(
            f"{n_images} images x {n_steps} steps at batch size {min(batch_size, n_images)} "
            f"need about {need / 1024:.1f} GB, more than the {0.8 * free / 1024:.1f} GB "
            "this machine has free; lower --batch-size (memory grows with it) or --n-steps"
        )
