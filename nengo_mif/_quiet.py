"""Keep TensorFlow's start-up logging out of users' terminals."""

from __future__ import annotations

import contextlib
import logging
import os
import sys


@contextlib.contextmanager
def native_stderr_silenced(active: bool = True):
    """Send file descriptor 2 to /dev/null for the duration (C++ log lines included).

    TensorFlow's TensorRT probe, run when nengo_dl imports, prints "Could not find
    TensorRT" from native code whatever TF_CPP_MIN_LOG_LEVEL says. Python
    exceptions still propagate and print after the descriptor is restored.
    """
    if not active:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def quiet_tensorflow() -> None:
    """Show TensorFlow's Python-side warnings at ERROR level only."""
    import tensorflow as tf

    tf.get_logger().setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
