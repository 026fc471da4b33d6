import numpy as np
import pytest

import nengo_mif  # noqa: F401


@pytest.fixture(scope="module")
def images():
    """Eight random 12x12 images (for `test_engine.small_net`)."""
    return np.random.RandomState(2).rand(8, 12, 12, 1).astype("float32")


@pytest.fixture
def rng():
    return np.random.RandomState(0)


def tiny_cnn(input_shape=(28, 28, 1), n_classes=10):
    """A two-layer conv net: the reference net's shape at a fraction of its cost."""
    import tensorflow as tf

    inp = tf.keras.Input(input_shape, name="input")
    x = tf.keras.layers.Conv2D(8, 3, strides=2, activation=tf.nn.relu, name="conv0")(inp)
    x = tf.keras.layers.Conv2D(16, 3, strides=2, activation=tf.nn.relu, name="conv1")(x)
    x = tf.keras.layers.Flatten(name="flatten")(x)
    return tf.keras.Model(inp, tf.keras.layers.Dense(n_classes, name="output")(x))


@pytest.fixture
def tiny_model(monkeypatch):
    """Registers `tiny_cnn` as a model name for the duration of a test."""
    from nengo_mif.networks import models

    monkeypatch.setitem(models.MODELS, "tiny_cnn", tiny_cnn)
    return tiny_cnn


def run_python(code: str) -> str:
    """Run ``code`` in a fresh interpreter (for import-time behaviour); its stdout."""
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
