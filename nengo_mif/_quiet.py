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


def quiet_import(module: str):
    """Import ``module`` (one that loads TensorFlow's optional parts, as nengo_loihi's
    imports do) with TensorFlow quiet and its native probes' lines silenced.

    Returns
    -------
    module : module
    """
    import importlib

    import_tensorflow()
    with native_stderr_silenced(active=_USER_TF_LOG_LEVEL is None):
        return importlib.import_module(module)


def progress_bar(iterable, desc: str, show: bool = True):
    """``iterable`` with progress: a bar on a terminal, else plain lines.

    Off a terminal (a log file, CI, a batch job) a bar would be noise and nothing at
    all looks like a hang, so every tenth of the work prints one line to stderr
    (``desc: 3/10``).

    Returns
    -------
    iterable
    """
    if not show:
        return iterable
    if sys.stderr.isatty():
        from tqdm.auto import tqdm

        return tqdm(iterable, desc=desc, leave=False)
    return _plain_progress(iterable, desc)


def _plain_progress(iterable, desc: str):
    items = list(iterable)
    every = max(1, len(items) // 10)
    for i, item in enumerate(items, 1):
        yield item
        if i % every == 0 or i == len(items):
            print(f"{desc}: {i}/{len(items)}", file=sys.stderr, flush=True)
