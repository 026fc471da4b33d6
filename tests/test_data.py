"""Dataset loaders, on files generated here in each format users have."""

import gzip
import pickle

import numpy as np
import pytest
from nengo_mif.networks import data as D


def write_idx(path, array, gz=True):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape
    )
    raw = header + array.astype(np.uint8).tobytes()
    (gzip.open if gz else open)(path, "wb").write(raw)


def fake_images(n, shape, seed=0):
    rng = np.random.RandomState(seed)
    return rng.randint(0, 256, (n,) + shape), rng.randint(0, 10, n)


@pytest.mark.parametrize("gz", [True, False])
def test_idx_roundtrip(tmp_path, gz):
    x, y = fake_images(7, (28, 28))
    write_idx(tmp_path / ("t10k-images-idx3-ubyte" + (".gz" if gz else "")), x, gz)
    write_idx(tmp_path / ("t10k-labels-idx1-ubyte" + (".gz" if gz else "")), y, gz)
    xi, yi = D.load_idx_split(tmp_path, "t10k")
    assert xi.shape == (7, 28, 28, 1) and xi.dtype == np.float32
    np.testing.assert_allclose(xi[..., 0] * 255, x)
    np.testing.assert_array_equal(yi, y)


def test_idx_bad_magic(tmp_path):
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(b"\x01\x02\x03\x04rubbish")
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"\x01\x02\x03\x04rubbish")
    with pytest.raises(D.DataError, match="magic"):
        D.load_idx_split(tmp_path, "t10k")


def test_idx_mismatched_counts(tmp_path):
    x, y = fake_images(5, (28, 28))
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", x)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", y[:4])
    with pytest.raises(D.DataError, match="do not match"):
        D.load_idx_split(tmp_path, "t10k")


def test_mnist_from_keras_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "datasets").mkdir()
    x, y = fake_images(12, (28, 28))
    np.savez(
        tmp_path / "datasets" / "mnist.npz",
        x_train=x[:8],
        y_train=y[:8],
        x_test=x[8:],
        y_test=y[8:],
    )
    ds = D.load_dataset("mnist")
    assert ds.x_train.shape == (8, 28, 28, 1) and ds.x_test.shape == (4, 28, 28, 1)
    assert ds.test_source == "official MNIST 10k test set"


def test_cifar10_from_keras_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    folder = tmp_path / "datasets" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.RandomState(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            b"data": rng.randint(0, 256, (3, 3072)).astype(np.uint8),
            b"labels": list(rng.randint(0, 10, 3)),
        }
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    ds = D.load_dataset("cifar10")
    assert ds.x_train.shape == (15, 32, 32, 3) and ds.x_test.shape == (3, 32, 32, 3)
    assert 0 <= ds.x_train.min() and ds.x_train.max() <= 1


def test_fashion_from_data_dir(tmp_path):
    for split, n in (("train", 6), ("t10k", 3)):
        x, y = fake_images(n, (28, 28))
        write_idx(tmp_path / f"{split}-images-idx3-ubyte.gz", x)
        write_idx(tmp_path / f"{split}-labels-idx1-ubyte.gz", y)
    ds = D.load_dataset("fashion-mnist", tmp_path)
    assert ds.x_train.shape == (6, 28, 28, 1) and len(ds.y_test) == 3


def test_missing_files_say_where_and_how(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(D.DataError, match=str(tmp_path)) as e:
        D.load_dataset("mnist", tmp_path / "nowhere")
    assert "load_data" in str(e.value) and "--data-dir" in str(e.value)
    with pytest.raises(D.DataError, match="cifar-10-batches-py"):
        D.load_dataset("cifar10")


def test_unknown_dataset():
    with pytest.raises(ValueError, match="unknown dataset 'svhn'.*mnist-5k"):
        D.load_dataset("svhn")


def test_mnist_5k_is_real_and_held_out():
    ds = D.load_dataset("mnist-5k")
    assert len(ds.x_train) + len(ds.x_test) == 5000
    assert np.bincount(ds.y_test).tolist() == [100] * 10
    assert "held out" in ds.test_source
    # a real digit image: mostly background with bright strokes
    assert 0.05 < ds.x_train.mean() < 0.25


def test_mnist_5k_with_official_test_set(tmp_path):
    x, y = fake_images(20, (28, 28))
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", x)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", y)
    ds = D.load_dataset("mnist-5k", tmp_path)
    assert len(ds.x_train) == 5000 and len(ds.x_test) == 20
    assert ds.test_source == "official MNIST 10k test set"


def test_validation_split_leaves_test_alone():
    ds = D.load_dataset("mnist-5k")
    fit, val = ds.validation_split(0.1)
    assert len(val.x_test) == 400 and len(fit.x_train) == 3600
    assert fit.x_test is ds.x_test


def test_mnist_5k_subsets_cover_every_class():
    ds = D.load_dataset("mnist-5k")
    assert len(np.unique(ds.y_train[:200])) == 10
    assert len(np.unique(ds.y_train[-200:])) == 10


def test_mnist_5k_held_out_test_is_mixed():
    ds = D.load_dataset("mnist-5k")
    assert len(np.unique(ds.y_test[:100])) == 10


def test_random_shift():
    x = np.zeros((50, 9, 7, 2), "float32")
    x[:, 4, 3, :] = 1.0  # one lit pixel per image, in the middle
    y = D.random_shift(x, 2, seed=3)
    assert y.shape == x.shape and y.dtype == x.dtype
    lit = np.argwhere(y[..., 0] == 1.0)
    assert (
        len(lit) == 50 and np.all(np.abs(lit[:, 1] - 4) <= 2) and np.all(np.abs(lit[:, 2] - 3) <= 2)
    )
    assert len({(r, c) for _, r, c in lit}) > 10  # the shifts vary
    np.testing.assert_array_equal(y[..., 0], y[..., 1])  # channels move together
    np.testing.assert_array_equal(y, D.random_shift(x, 2, seed=3))
    assert not np.array_equal(y, D.random_shift(x, 2, seed=4))
    assert D.random_shift(x, 0, seed=3) is x


def test_random_flip():
    x = np.zeros((200, 5, 6, 2), "float32")
    x[:, 1, 0, :] = 1.0  # one lit pixel per image, on the left edge
    y = D.random_flip(x, seed=3)
    assert y.shape == x.shape and y.dtype == x.dtype
    mirrored = y[:, 1, 5, 0] == 1.0
    assert 0.35 < mirrored.mean() < 0.65  # about half
    np.testing.assert_array_equal(y[mirrored][:, 1, 0], 0.0)  # moved, not copied
    np.testing.assert_array_equal(y[~mirrored], x[~mirrored])
    np.testing.assert_array_equal(y[..., 0], y[..., 1])  # channels move together
    np.testing.assert_array_equal(y, D.random_flip(x, seed=3))
    assert not np.array_equal(y, D.random_flip(x, seed=4))
