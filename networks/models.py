"""Keras models of the seed study, ready for `nengo_dl.Converter`.

The first layer is a convolution that receives the image as a rate (as in NengoDL's
examples). Batch normalisation and dropout are trained as they are on the Keras
engine (through time too); every command that runs a trained net passes it through
`fold_for_conversion`, which folds each batch norm into the layer before it and
drops dropout, so that the neurons see plain weighted layers (NengoDL trains the
folded net from the start).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from nengo_mif._quiet import import_tensorflow
from nengo_mif.keras.convert import FOLDS_BATCH_NORM

tf = import_tensorflow()

layers = tf.keras.layers


def mnist_cnn(input_shape=(28, 28, 1), n_classes=10, width=1) -> tf.keras.Model:
    """The reference net: Conv 32 - 64 (stride 2) - 128 (stride 2), 3x3, Dense 10.

    ``width`` multiplies every convolution's channels (`mnist_cnn_wide`: 2, for
    Fashion-MNIST, where the reference net underfits: 91% training accuracy).

    Returns
    -------
    model : tf.keras.Model
    """
    inp = tf.keras.Input(input_shape, name="input")
    x = layers.Conv2D(32 * width, 3, activation=tf.nn.relu, name="conv0")(inp)
    x = layers.Conv2D(64 * width, 3, strides=2, activation=tf.nn.relu, name="conv1")(x)
    x = layers.Conv2D(128 * width, 3, strides=2, activation=tf.nn.relu, name="conv2")(x)
    x = layers.Flatten(name="flatten")(x)
    out = layers.Dense(n_classes, name="output")(x)
    return tf.keras.Model(inp, out, name="mnist_cnn" if width == 1 else f"mnist_cnn_x{width}")


def mnist_cnn_wide(input_shape=(28, 28, 1), n_classes=10) -> tf.keras.Model:
    """The reference net with twice the channels: Conv 64 - 128 - 256, Dense 10.

    Returns
    -------
    model : tf.keras.Model
    """
    return mnist_cnn(input_shape, n_classes, width=2)


def _conv_bn(x, filters, strides, name):
    x = layers.Conv2D(filters, 3, strides=strides, padding="same", name=name)(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.Activation(tf.nn.relu, name=f"{name}_relu")(x)


def cifar_cnn(input_shape=(32, 32, 3), n_classes=10, dropout=0.2) -> tf.keras.Model:
    """The reference net widened for CIFAR-10, with batch norm and dropout.

    Returns
    -------
    model : tf.keras.Model
    """
    inp = tf.keras.Input(input_shape, name="input")
    x = _conv_bn(inp, 32, 1, "conv0")
    x = _conv_bn(x, 64, 2, "conv1")
    x = layers.Dropout(dropout, name="drop1")(x)
    x = _conv_bn(x, 128, 2, "conv2")
    x = layers.Dropout(dropout, name="drop2")(x)
    x = layers.Flatten(name="flatten")(x)
    out = layers.Dense(n_classes, name="output")(x)
    return tf.keras.Model(inp, out, name="cifar_cnn")


def cifar_deep(input_shape=(32, 32, 3), n_classes=10, dropout=0.3) -> tf.keras.Model:
    """A deeper CIFAR-10 net: three stages of two conv layers (VGG-like), no pooling.

    Returns
    -------
    model : tf.keras.Model
    """
    inp = tf.keras.Input(input_shape, name="input")
    x = inp
    for stage, filters in enumerate((32, 64, 128)):
        x = _conv_bn(x, filters, 1, f"conv{2 * stage}")
        x = _conv_bn(x, filters, 2, f"conv{2 * stage + 1}")
        x = layers.Dropout(dropout, name=f"drop{stage}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(256, activation=tf.nn.relu, name="dense0")(x)
    out = layers.Dense(n_classes, name="output")(x)
    return tf.keras.Model(inp, out, name="cifar_deep")


def csnn(input_shape=(28, 28, 1), n_classes=10, channels=128) -> tf.keras.Model:
    """SpikingJelly's Fashion-MNIST CSNN: (Conv 3x3 - BN - spike - MaxPool 2) x 2, Dense.

    As ``spikingjelly.activation_based.model`` 's ``CSNN`` (93% Fashion-MNIST at 4
    steps with LIF and BPTT): convolutions without bias, each followed by batch norm,
    the neurons and 2x2 max pooling of their spikes; then a spiking dense layer of
    ``channels * 16`` and a linear readout. Meant for training through time (the
    Keras engine runs the batch norm and the pooling of spikes); batch norm folds into
    the convolutions for NengoDL. Max pooling has no Loihi counterpart: deploy
    `csnn_avg`.

    Returns
    -------
    model : tf.keras.Model
    """
    return _csnn(input_shape, n_classes, channels, layers.MaxPooling2D, "csnn")


def csnn_small(input_shape=(28, 28, 1), n_classes=10) -> tf.keras.Model:
    """`csnn` with 32 channels: about 1/16 of its convolution cost (for CPUs).

    Returns
    -------
    model : tf.keras.Model
    """
    return _csnn(input_shape, n_classes, 32, layers.MaxPooling2D, "csnn_small")


def csnn_avg(input_shape=(28, 28, 1), n_classes=10, channels=128) -> tf.keras.Model:
    """`csnn` with average pooling (a linear map Loihi runs) in place of max pooling.

    Returns
    -------
    model : tf.keras.Model
    """
    return _csnn(input_shape, n_classes, channels, layers.AveragePooling2D, "csnn_avg")


def _csnn(input_shape, n_classes, channels, pool, name) -> tf.keras.Model:
    inp = tf.keras.Input(input_shape, name="input")
    x = inp
    for i in range(2):
        x = layers.Conv2D(channels, 3, padding="same", use_bias=False, name=f"conv{i}")(x)
        x = layers.BatchNormalization(name=f"conv{i}_bn")(x)
        x = layers.Activation(tf.nn.relu, name=f"conv{i}_relu")(x)
        x = pool(2, name=f"pool{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(channels * 16, activation=tf.nn.relu, use_bias=False, name="dense0")(x)
    out = layers.Dense(n_classes, name="output")(x)
    return tf.keras.Model(inp, out, name=name)


MODELS: dict[str, Callable[..., tf.keras.Model]] = {
    "mnist_cnn": mnist_cnn,
    "mnist_cnn_wide": mnist_cnn_wide,
    "cifar_cnn": cifar_cnn,
    "cifar_deep": cifar_deep,
    "csnn": csnn,
    "csnn_small": csnn_small,
    "csnn_avg": csnn_avg,
}


def build_model(name: str, input_shape, n_classes: int) -> tf.keras.Model:
    """A fresh, untrained model by name.

    Returns
    -------
    model : tf.keras.Model
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return MODELS[name](input_shape=input_shape, n_classes=n_classes)


def needs_folding(model: tf.keras.Model) -> bool:
    """Whether the model has batch norm or dropout to fold away before conversion.

    Returns
    -------
    folding : bool
    """
    return any(
        isinstance(layer, (layers.BatchNormalization, layers.Dropout)) for layer in model.layers
    )


def fold_for_conversion(model: tf.keras.Model) -> tf.keras.Model:
    """A copy of a single-chain model with batch norms folded and dropout removed.

    Returns
    -------
    model : tf.keras.Model
    """
    chain = model.layers[1:]
    for layer in chain:
        if len(layer._inbound_nodes) != 1 or len(tf.nest.flatten(layer.input)) != 1:
            raise ValueError(
                f"layer {layer.name!r}: fold_for_conversion handles "
                "single-input chains only; fold this model by hand"
            )
    inp = tf.keras.Input(model.input_shape[1:], name=model.layers[0].name)
    x, pending = inp, None  # pending: a conv/dense waiting for a possible batch norm

    def flush(x, pending, bn=None):
        layer, (kernel, bias) = pending
        if bn is not None:
            gamma, beta, mean, var = bn.get_weights()
            scale = gamma / np.sqrt(var + bn.epsilon)
            kernel, bias = kernel * scale, (bias - mean) * scale + beta
        config = dict(layer.get_config(), use_bias=True)
        new = type(layer).from_config(config)
        x = new(x)
        new.set_weights([kernel, bias])
        return x

    for layer in chain:
        if isinstance(layer, layers.Dropout):
            continue
        if isinstance(layer, layers.BatchNormalization):
            if pending is None:
                raise ValueError(
                    f"batch norm {layer.name!r} does not follow a conv/dense "
                    "layer, so it cannot be folded"
                )
            x, pending = flush(x, pending, layer), None
            continue
        if pending is not None:
            x, pending = flush(x, pending), None
        if isinstance(layer, FOLDS_BATCH_NORM):
            weights = layer.get_weights()
            bias = weights[1] if layer.use_bias else np.zeros(weights[0].shape[-1], "float32")
            pending = (layer, (weights[0], bias))
            continue
        new = type(layer).from_config(layer.get_config())
        x = new(x)
        if layer.get_weights():
            new.set_weights(layer.get_weights())
    if pending is not None:
        x = flush(x, pending)
    return tf.keras.Model(inp, x, name=f"{model.name}_folded")


def trained_model(name: str, input_shape, n_classes: int, weights: set[str]) -> tf.keras.Model:
    """The model a run's stored ``weights`` (layer names) fit, before any folding.

    A run trained on the Keras engine stores its batch norms (trained through time);
    one trained on NengoDL, or pre-trained in Keras, stores the folded layers.

    Returns
    -------
    model : tf.keras.Model
    """
    model = build_model(name, input_shape, n_classes)
    if not needs_folding(model) or weights == {
        layer.name for layer in model.layers if layer.weights
    }:
        return model
    return fold_for_conversion(model)


def conversion_model(name: str, input_shape, n_classes: int) -> tf.keras.Model:
    """The (untrained) model by name as neurons run it: batch norms folded, no dropout.

    Returns
    -------
    model : tf.keras.Model
    """
    model = build_model(name, input_shape, n_classes)
    return fold_for_conversion(model) if needs_folding(model) else model
