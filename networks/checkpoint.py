"""Atomic checkpoints: a crash at any instant leaves the last finished epoch intact.

A run directory holds ``state.json`` (config, finished epochs, history, and the name
of the parameter file that goes with them) and that ``params-eNNN.npz``. Both are
written to a temporary name and moved into place with `os.replace`; the state is
written after its parameters, so it never points at a file that is not complete.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from nengo_mif.networks.config import RUN_SETTINGS, EvalConfig

from nengo_mif.exceptions import CheckpointError, ConfigError, RunError, TrainingDiverged

STATE = "state.json"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes the file private (0600); give it the mode open() would, as
        # Keras and numpy write theirs
        os.chmod(tmp, 0o666 & ~_umask())
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
    check_state(state, path)
    return state


def _is_int(x, low: int) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= low


#: what each field of a run's state must be: (check, what it should be)
_STATE_FIELDS = {
    "config": (lambda x: isinstance(x, dict), "an object of training settings"),
    "epochs_done": (lambda x: _is_int(x, 0), "a whole number >= 0"),
    "history": (
        lambda x: isinstance(x, list) and all(isinstance(h, dict) for h in x),
        "a list of one object per epoch",
    ),
    "params": (lambda x: isinstance(x, str) and x != "", "the weights' file name"),
    "settings": (lambda x: isinstance(x, dict), "an object of evaluation settings"),
    "neuron_params": (
        lambda x: isinstance(x, dict) and all(isinstance(v, dict) for v in x.values()),
        "an object of per-layer neuron constants",
    ),
    "input_shape": (
        lambda x: isinstance(x, list) and len(x) > 0 and all(_is_int(d, 1) for d in x),
        "a list of positive image dimensions",
    ),
    "n_classes": (lambda x: _is_int(x, 2), "a whole number >= 2"),
}


def chosen_on_validation(state: dict) -> bool:
    """Whether a run's stored settings were chosen by `tune` (not set by training).

    Returns
    -------
    tuned : bool
    """
    return state.get("settings", {}).get("source", "").startswith("validation")


def check_state(state: dict, path: Path) -> None:
    """Refuse a damaged run state: each field's type and range, and the stored settings.

    Raises
    ------
    CheckpointError
        Naming the file, the field and the fix.
    """
    fix = "restore the file, or retrain into a new --run-dir"
    for name, (ok, what) in _STATE_FIELDS.items():
        if name in state and not ok(state[name]):
            raise CheckpointError(
                f"{path}: {name!r} must be {what}; got {state[name]!r:.60}; {fix}"
            )
    if "history" not in state and state["epochs_done"]:
        raise CheckpointError(f"{path}: no 'history' for its {state['epochs_done']} epochs; {fix}")
    if len(state.get("history", [])) < state["epochs_done"]:
        raise CheckpointError(
            f"{path}: 'history' has {len(state['history'])} entries for "
            f"{state['epochs_done']} epochs done; {fix}"
        )
    settings = state.get("settings", {})
    try:
        EvalConfig(**{k: settings[k] for k in RUN_SETTINGS if settings.get(k) is not None})
    except (ConfigError, TypeError) as e:
        raise CheckpointError(
            f"{path}: stored 'settings' are not valid ({e}); rerun `nengo-mif tune`, or "
            "delete 'settings' from the file to use the defaults"
        ) from e


LOCK = ".lock"


@contextmanager
def owned(run_dir: Path) -> Iterator[None]:
    """Hold ``run_dir`` for one writer: a lock file naming this process and host.

    A second writer gets one line naming the owner; a lock left by a process that is
    gone (same host) is taken over.

    Raises
    ------
    RunError
        While another live process holds the folder.
    """
    run_dir = Path(run_dir)
    check_writable(run_dir)
    path = run_dir / LOCK
    me = dict(pid=os.getpid(), host=socket.gethostname(), since=time.time())
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            owner = _lock_owner(path)
            if owner is not None and _alive(owner):
                since = time.strftime("%Y-%m-%d %H:%M", time.localtime(owner.get("since", 0)))
                raise RunError(
                    f"{run_dir} is being written by process {owner.get('pid')} on "
                    f"{owner.get('host')} (since {since}); wait for it to finish or choose "
                    f"another --run-dir (if that process is gone, delete {path})"
                ) from None
            try:
                path.unlink()  # stale: its writer is gone
            except FileNotFoundError:
                pass
            continue
        with os.fdopen(fd, "w") as f:
            json.dump(me, f)
        break
    else:
        raise RunError(f"could not take {path}; another writer keeps taking it")
    try:
        yield
    finally:
        if _lock_owner(path) == me:
            path.unlink()


def _lock_owner(path: Path) -> dict | None:
    try:
        owner = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # being written, or damaged: treated as stale
    return owner if isinstance(owner, dict) else None


def _alive(owner: dict) -> bool:
    if owner.get("host") != socket.gethostname():
        return True  # cannot tell from here
    try:
        os.kill(int(owner.get("pid", -1)), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, OverflowError):
        return True
    return True


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
    again later as it stands on disk. Non-finite weights are refused before anything
    is written, and older files go only once the new state is on disk, so the last
    good epoch survives a diverged epoch, a full disk or a read-only file.
    """
    run_dir = Path(run_dir)
    epoch = state["epochs_done"]
    bad = non_finite(arrays)
    if bad:
        raise TrainingDiverged(
            f"epoch {epoch} produced non-finite weights ({bad}); nothing was written, "
            f"the last good epoch stays in {run_dir}: resume with a lower --learning-rate"
        )
    name = f"params-e{epoch:03d}.npz"
    previous = state.get("params")
    try:
        atomic_save_arrays(run_dir / name, arrays)
        state["params"] = name
        atomic_write_json(run_dir / STATE, state)
    except OSError as e:
        # the writes are atomic: the state on disk still names the previous file
        if name != previous:
            (run_dir / name).unlink(missing_ok=True)
        state["params"] = previous
        kept = f"epoch {epoch - 1} is intact" if previous else "no epoch was saved yet"
        raise CheckpointError(
            f"could not save epoch {epoch} in {run_dir} ({e.strerror}); {kept}: free "
            "space or make the folder writable, then run the same command with --resume"
        ) from e
    for old in run_dir.glob("params-e*.npz"):
        if old.name != name:
            try:
                old.unlink()
            except OSError:
                pass  # a stale copy; the state names the new one


def non_finite(arrays: dict[str, np.ndarray]) -> str:
    """The arrays holding NaN or inf, named with their counts (empty if none).

    Returns
    -------
    names : str
    """
    bad = [
        f"{name}: {int(np.size(a) - np.isfinite(a).sum())} of {np.size(a)}"
        for name, a in arrays.items()
        if np.issubdtype(np.asarray(a).dtype, np.floating) and not np.all(np.isfinite(a))
    ]
    return ", ".join(bad)


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
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise CheckpointError(
            f"{path} is unreadable or truncated ({e}); resume from an "
            "earlier copy or retrain into a new --run-dir"
        ) from e
    bad = non_finite(arrays)
    if bad:
        raise CheckpointError(
            f"{path} holds non-finite values ({bad}); restore the file or retrain into "
            "a new --run-dir"
        )
    return arrays
