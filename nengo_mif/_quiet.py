"""Keep TensorFlow's start-up logging, and progress bars, out of logs."""

from __future__ import annotations

import contextlib
import logging
import os
import sys

#: the level the user chose, if any (nengo_dl overrides it on import)
_USER_TF_LOG_LEVEL = os.environ.get("TF_CPP_MIN_LOG_LEVEL")


@contextlib.contextmanager
def native_stderr_silenced(active: bool = True):
    """Send file descriptor 2 to /dev/null for the duration (C++ log lines included).

    TensorFlow's TensorRT probe prints "Could not find TensorRT" from native code
    whatever TF_CPP_MIN_LOG_LEVEL says. Python exceptions still propagate and print
    after the descriptor is restored.
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


def restore_tf_log_level() -> None:
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = _USER_TF_LOG_LEVEL or "3"


def import_tensorflow():
    """Import TensorFlow quietly (errors only, unless the user chose a log level).

    Returns
    -------
    tf : module
    """
    if "tensorflow" not in sys.modules:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        with native_stderr_silenced(active=_USER_TF_LOG_LEVEL is None):
            import tensorflow  # noqa: F401
    import tensorflow as tf

    tf.get_logger().setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    return tf


def progress_bar(iterable, desc: str, show: bool = True):
    """``iterable`` with a progress bar, drawn only when output is a terminal.

    ``disable=None`` is tqdm's "only on a TTY", so redirected output and CI logs get
    no bar lines.

    Returns
    -------
    iterable
    """
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, leave=False, disable=None if show else True)
