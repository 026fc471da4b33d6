"""Atomic checkpoints: a crash at any instant leaves the last finished epoch intact.

A run directory holds ``state.json`` (config, finished epochs, history, and the name
of the parameter file that goes with them) and that ``params-eNNN.npz``. Both are
written to a temporary name and moved into place with `os.replace`; the state is
written after its parameters, so it never points at a file that is not complete.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from nengo_mif.exceptions import CheckpointError, RunError

STATE = "state.json"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, default=_jsonable) + "\n").encode())


def _jsonable(x):
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"cannot write {type(x).__name__} to JSON")


def atomic_save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    import io

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def load_state(run_dir: Path) -> dict | None:
    """The run's state, or None if there is none (a clear error if it is corrupt).

    Returns
    -------
    state : dict or None
    """
    path = Path(run_dir) / STATE
    if not path.exists():
        return None
    try:
        state = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(
            f"{path} is unreadable or truncated ({e}); retrain into a new "
            "--run-dir, or restore the file"
        ) from e
    if not isinstance(state, dict) or "config" not in state or "epochs_done" not in state:
        raise CheckpointError(
            f"{path} is not a nengo-mif run state (no config or "
            "epochs_done); point --run-dir at a training run"
        )
    return state


def check_writable(directory: Path) -> None:
    """Fail now, not after hours of work, if ``directory`` cannot take new files."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise CheckpointError(f"{directory} is a file; choose a folder")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".write-check.")
        os.close(fd)
        os.remove(tmp)
    except OSError as e:
        raise CheckpointError(
            f"cannot write to {directory} ({e.strerror}); choose a writable folder"
        ) from e


def save_epoch(run_dir: Path, state: dict, arrays: dict[str, np.ndarray]) -> None:
    """Write an epoch's parameters, then the state naming them; drop older files.

    ``state`` gets the parameter file's name (``params``), so that it can be written
    again later as it stands on disk.
    """
    run_dir = Path(run_dir)
    name = f"params-e{state['epochs_done']:03d}.npz"
    atomic_save_arrays(run_dir / name, arrays)
    state["params"] = name
    atomic_write_json(run_dir / STATE, state)
    for old in run_dir.glob("params-e*.npz"):
        if old.name != name:
            old.unlink()


def load_params(run_dir: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """The run's state and its newest checkpoint's arrays.

    Returns
    -------
    state, arrays : dict, dict of np.ndarray
    """
    state = load_state(run_dir)
    if state is None or "params" not in state:
        raise RunError(
            f"{run_dir} holds no finished training epoch ({STATE} missing); run "
            "`nengo-mif train` first or point at the right --run-dir"
        )
    return state, load_arrays(Path(run_dir) / state["params"])


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a parameter file (a clear error if it is corrupt).

    Returns
    -------
    arrays : dict of np.ndarray
    """
    try:
        with np.load(path) as f:
            return {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise CheckpointError(
            f"{path} is unreadable or truncated ({e}); resume from an "
            "earlier copy or retrain into a new --run-dir"
        ) from e
