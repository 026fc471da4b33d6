"""The Keras-native engine: a Keras model's ReLUs swapped for a neuron type, run at Keras speed.

`rate_model` is what NengoDL trains (every ReLU replaced by the type's rate curve);
`spiking_model` is what a converted NengoDL network computes when it runs spiking,
step for step. Each connection out of a neuron layer carries a nengo ``Lowpass``
(applied after the weights, as nengo does) and, like every synapse on a nengo
connection, hands its value to the next layer one step later; biases arrive
unfiltered; the output probe is filtered too. The image is the input at every step.

Layers are applied to all time steps at once (time folded into the batch), so the
convolutions run as large batched kernels and only the neurons and synapses step
through time. For short presentations trained through time, the spiking network also
runs batch normalisation (after the synapse, with one set of statistics over all
steps: time is in the batch, and it folds into the layer before it for evaluation),
max pooling of each step's spikes, and dropout with one mask per image for all
steps. Nothing here imports nengo_dl or nengo_loihi.
"""

from __future__ import annotations

from dataclasses import dataclass

import nengo
import numpy as np

from nengo_mif._quiet import import_tensorflow, progress_bar
from nengo_mif.defaults import default
from nengo_mif.engines import Synapses, amplitude_of, synapse_for
from nengo_mif.exceptions import EngineError
from nengo_mif.keras.activations import RateActivation, SpikingActivation, check_finite
from nengo_mif.keras.encodings import InputEncoding
from nengo_mif.keras.surrogates import ThroughTime
from nengo_mif.keras.synapses import Lowpass
from nengo_mif.registry import with_params

tf = import_tensorflow()

layers = tf.keras.layers

#: layers the engine runs as they are (linear maps, applied at every time step)
LINEAR = (
    layers.Conv1D,
    layers.Conv2D,
    layers.Conv3D,
    layers.Dense,
    layers.AveragePooling1D,
    layers.AveragePooling2D,
    layers.AveragePooling3D,
    layers.GlobalAveragePooling1D,
    layers.GlobalAveragePooling2D,
    layers.ZeroPadding1D,
    layers.ZeroPadding2D,
)
#: layers that only reshape (no connection in nengo, so no synapse)
RESHAPE = (layers.Flatten, layers.Reshape)
#: spikes in, spikes out, one step at a time (no synapse): a window's spike if any
MAX_POOL = (layers.MaxPooling1D, layers.MaxPooling2D, layers.MaxPooling3D)
#: trained through time, folded into the layer before it for evaluation
#: (`nengo_mif.networks.models.fold_for_conversion`)
BATCH_NORM = (layers.BatchNormalization,)
#: the layers a batch norm folds into (when it follows one without activation)
FOLDS_BATCH_NORM = (layers.Conv1D, layers.Conv2D, layers.Conv3D, layers.Dense)
DROPOUT = (layers.Dropout,)
RELU = (tf.nn.relu, tf.keras.activations.relu)
LINEAR_ACTIVATIONS = (None, tf.keras.activations.linear)


def activation_kind(layer) -> str:
    act = getattr(layer, "activation", None)
    if act in RELU:
        return "relu"
    if act in LINEAR_ACTIVATIONS:
        return "linear"
    raise EngineError(
        f"layer {layer.name!r}: activation {getattr(act, '__name__', act)!r} "
        "has no neuron type; the engine swaps ReLUs only (use a ReLU, or "
        "--engine nengo-dl, whose Converter falls back to TensorNodes)"
    )


def chain(model: tf.keras.Model) -> list[tf.keras.layers.Layer]:
    """The model's layers in order, checked to be a single chain the engine runs.

    Returns
    -------
    layers : list of tf.keras.layers.Layer
        Every layer but the input.
    """
    out = []
    for layer in model.layers:
        if isinstance(layer, layers.InputLayer):
            continue
        if len(layer._inbound_nodes) != 1 or len(tf.nest.flatten(layer.input)) != 1:
            raise EngineError(
                f"layer {layer.name!r}: the Keras engine runs single-input "
                "chains of layers; use --engine nengo-dl for this model"
            )
        if isinstance(layer, layers.Activation):
            activation_kind(layer)
        elif isinstance(layer, BATCH_NORM):
            _check_batch_norm(layer, out[-1] if out else None)
        elif isinstance(layer, DROPOUT) and type(layer) is not layers.Dropout:
            raise EngineError(
                f"layer {layer.name!r} ({type(layer).__name__}): the Keras engine runs "
                "plain Dropout (one mask per image for all steps); use Dropout"
            )
        elif not isinstance(layer, LINEAR + RESHAPE + MAX_POOL + DROPOUT):
            raise EngineError(
                f"layer {layer.name!r} ({type(layer).__name__}) cannot run on the Keras "
                "engine (it runs convolutions, dense, pooling, batch norm after a "
                "convolution or dense layer, dropout, flatten and ReLU layers); use "
                "--engine nengo-dl"
            )
        else:
            activation_kind(layer)
        out.append(layer)
    return out


def _check_batch_norm(layer, before) -> None:
    """A batch norm the engine can fold: straight after a linear conv or dense layer."""
    axis = layer.axis if isinstance(layer.axis, (list, tuple)) else [layer.axis]
    if list(axis) not in ([-1], [len(layer.input_shape) - 1]):
        raise EngineError(
            f"batch norm {layer.name!r} normalises axis {layer.axis}; the engine folds "
            "batch norms over the channel axis (axis=-1) only"
        )
    if not (isinstance(before, FOLDS_BATCH_NORM) and activation_kind(before) == "linear"):
        name = "nothing" if before is None else repr(before.name)
        raise EngineError(
            f"batch norm {layer.name!r} follows {name}; the engine runs batch norm "
            "straight after a convolution or dense layer without activation (put "
            "the ReLU after the batch norm), so that it folds into that layer"
        )


def _clone(layer, **overrides):
    config = dict(layer.get_config(), **overrides)
    return type(layer).from_config(config)


def _linear_part(layer, use_bias: bool):
    """A copy of ``layer`` without activation (and without bias if asked), same weights."""
    overrides = {"name": f"{layer.name}_linear"}
    if hasattr(layer, "activation"):
        overrides["activation"] = None
    has_bias = getattr(layer, "use_bias", False)
    if has_bias and not use_bias:
        overrides["use_bias"] = False
    clone = _clone(layer, **overrides)
    clone.build(layer.input_shape)
    weights = layer.get_weights()
    clone.set_weights(weights[:1] if has_bias and not use_bias else weights)
    return clone, (weights[1] if has_bias and not use_bias else None)


def _neuron_name(name: str) -> str:
    return f"{name}_neurons"


def rate_neuron_layers(rate: tf.keras.Model) -> dict[str, RateActivation]:
    """A `rate_model`'s neuron layers, by the name of the Keras layer each replaces.

    Returns
    -------
    layers : dict of RateActivation
    """
    return {layer.source: layer for layer in rate.layers if isinstance(layer, RateActivation)}


def rate_model(
    model: tf.keras.Model,
    neuron: nengo.neurons.NeuronType,
    smoothing: float | None = None,
    scale: float = 1.0,
    dt: float = default.dt,
    layer_params: dict[str, dict[str, float]] | None = None,
) -> tf.keras.Model:
    """``model`` with every ReLU replaced by ``neuron``'s rate curve (what NengoDL trains).

    Weighted layers keep their names and weights, so `get_weights` / `set_weights`
    by layer name move parameters between this model and ``model``. ``layer_params``:
    per layer name, parameters of ``neuron`` that differ there (`spiking_model`).

    Returns
    -------
    model : tf.keras.Model
        Same inputs and outputs as ``model``.
    """

    def rate_layer(name):
        kind = with_params(neuron, (layer_params or {}).get(name))
        return RateActivation(kind, scale, smoothing, dt, source=name, name=_neuron_name(name))

    inp = tf.keras.Input(model.input_shape[1:], name="input")
    x = inp
    for layer in chain(model):
        if isinstance(layer, layers.Activation):
            if activation_kind(layer) == "relu":
                x = rate_layer(layer.name)(x)
            continue
        clone = _clone(layer, **({"activation": None} if hasattr(layer, "activation") else {}))
        x = clone(x)
        if layer.get_weights():
            clone.set_weights(layer.get_weights())
        if activation_kind(layer) == "relu":
            x = rate_layer(layer.name)(x)
    return tf.keras.Model(inp, x, name=f"{model.name}_rate")


def rate_outputs(
    model: tf.keras.Model,
    neuron: nengo.neurons.NeuronType,
    x: np.ndarray,
    batch_size: int = default.batch_size,
    scale: float = 1.0,
    layer_params: dict[str, dict[str, float]] | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Run images ``x`` through `rate_model`; its output and every neuron layer's.

    Returns
    -------
    output : np.ndarray
        The network's output ``(n, n_classes)``.
    layers : dict of np.ndarray
        Per neuron layer (by the name of the Keras layer it replaces), its output,
        ``amplitude / scale * r(J)``.
    """
    rate = rate_model(model, neuron, scale=scale, layer_params=layer_params)
    neurons = rate_neuron_layers(rate)
    probed = tf.keras.Model(rate.input, [rate.output] + [n.output for n in neurons.values()])
    out, *acts = probed.predict(x, batch_size=batch_size, verbose=0)
    return out, dict(zip(neurons, acts))


@dataclass
class SpikingNet:
    """A spiking Keras model and what its outputs mean.

    ``model`` maps images tiled over time, ``(batch, n_steps, *image_shape)``, to
    ``[output, *spike_counts, *finite]``: the filtered output ``(batch, n_steps,
    n_classes)``, per neuron layer the spikes per step summed over the layer's neurons
    ``(batch, n_steps)``, and per neuron layer whether every input current was finite.
    """

    model: tf.keras.Model
    neuron_layers: list[str]
    neuron: nengo.neurons.NeuronType
    #: per weighted layer of the original model: its kernel's layer here, and the
    #: layer holding its bias when the bias arrives after a synapse
    weight_layers: dict[str, tuple[str, str | None]]

    def predict(
        self, x: np.ndarray, n_steps: int, batch_size: int, progress: bool = False
    ) -> tuple[np.ndarray, dict]:
        """Run images ``x`` (shown for ``n_steps``); returns outputs and spike counts.

        Returns
        -------
        output : np.ndarray
            ``(n, n_steps, n_classes)``
        spikes : dict of np.ndarray
            Per neuron layer, spikes per image per step ``(n, n_steps)``.
        """
        outputs, counts = [], {name: [] for name in self.neuron_layers}
        for i in progress_bar(range(0, len(x), batch_size), "spiking", progress):
            xb = np.repeat(x[i : i + batch_size, None], n_steps, axis=1)
            out, *rest = self._predict(tf.constant(xb))
            k = len(self.neuron_layers)
            for name, c, ok in zip(self.neuron_layers, rest[:k], rest[k:]):
                check_finite(ok.numpy(), name, type(self.neuron).__name__)
                counts[name].append(c.numpy())
            outputs.append(out.numpy())
        return np.concatenate(outputs), {k: np.concatenate(v) for k, v in counts.items()}

    def keras_weights(self) -> dict[str, list[np.ndarray]]:
        """The weights in the Keras format (by the original layer's name), as trained here.

        A layer's kernel lives in its ``*_linear`` copy; a bias that arrives after a
        synapse lives in the synapse (the neurons' or ``*_synapse``).

        Returns
        -------
        weights : dict
            Layer name -> ``[kernel, bias]`` (or ``[kernel]``).
        """
        weights = {}
        for name, (linear, holder) in self.weight_layers.items():
            arrays = self.model.get_layer(linear).get_weights()
            if holder is not None:
                arrays.append(self.model.get_layer(holder).synapse_weights[0])
            weights[name] = arrays
        return weights

    def synapses(self) -> dict[str, float]:
        """The trained synapse time constants, by the layer they feed (``"probe"``: output).

        Returns
        -------
        taus : dict of float
            Empty if the time constants were not trained.
        """
        taus = {}
        for layer in self.model.layers:
            if isinstance(layer, (SpikingActivation, Lowpass)) and layer.trains_synapse:
                taus[layer.source] = layer.synapse_weights[1]
        return taus

    def trained_constants(self) -> dict[str, dict[str, float]]:
        """Per neuron layer, its trained neuron constants (empty if none were trained).

        Returns
        -------
        params : dict
            Layer name -> parameter name -> value (for ``layer_params``).
        """
        trained = {name: self.neuron_layer(name).trained_constant for name in self.neuron_layers}
        return {name: params for name, params in trained.items() if params}

    def spikes(self, name: str):
        """The spikes of neuron layer ``name`` as a symbolic ``(batch, time, ...)`` tensor.

        For a probe model (``tf.keras.Model(net.model.input, net.spikes(name))``); the
        network itself runs time-major.

        Returns
        -------
        spikes : KerasTensor
        """
        return layers.Lambda(_swap_time_and_batch)(self.neuron_layer(name).output[0])

    def neuron_layer(self, name: str) -> SpikingActivation:
        """The spiking layer that replaced the ReLU of the original layer ``name``.

        Returns
        -------
        layer : SpikingActivation
        """
        return self.model.get_layer(_neuron_name(name))

    def __post_init__(self):
        self._predict = tf.function(lambda x: self.model(x, training=False))


def _swap_time_and_batch(t):
    return tf.experimental.numpy.moveaxis(t, 0, 1)


def spiking_model(
    model: tf.keras.Model,
    neuron: nengo.neurons.NeuronType,
    n_steps: int,
    dt: float = default.dt,
    synapse: Synapses = default.synapse,
    scale: float = 1.0,
    seed: int | None = 0,
    initial_states: dict[str, dict] | None = None,
    encoding: str = "analog",
    smoothing: float | None = None,
    train_synapses: bool = False,
    through_time: ThroughTime | None = None,
    layer_params: dict[str, dict[str, float]] | None = None,
    train_constants: bool = False,
) -> SpikingNet:
    """``model`` as a spiking network over ``n_steps`` time steps (what NengoDL simulates).

    Called with ``training=True`` it trains through time: the same spikes forward,
    and backward what ``through_time`` says (`nengo_mif.keras.activations.SpikingCell`:
    the rate curve's slope, or backpropagation through the neurons' state); every
    kernel, bias, batch norm (and with ``train_synapses`` every synapse time constant)
    is a trainable weight, read back with `SpikingNet.keras_weights`.

    Parameters
    ----------
    model : tf.keras.Model
        A chain of layers (`chain`) holding the trained weights.
    neuron : nengo.neurons.NeuronType
        The spiking type every ReLU becomes.
    n_steps, dt : int, float
        Number and length (s) of the time steps.
    synapse : float, None or dict
        Lowpass time constant (s) on every connection out of a neuron layer and on
        the output; ``None``: no filtering (and no synaptic delay); a dict: per
        receiving layer name and ``"probe"`` (`synapse_for`).
    scale : float
        Firing-rate scale.
    seed : int or None
        Seed of the neurons' initial states (nengo's distributions); the layers get
        distinct draws. Also seeds a random input encoding.
    initial_states : dict or None
        Per layer name, the initial state arrays by state name (overrides ``seed``).
    encoding : str
        How the image enters (`nengo_mif.keras.encodings.InputEncoding`).
    smoothing : float or None
        Smoothing of the rate curves whose slopes spike-aware training uses.
    train_synapses : bool
        Make every synapse time constant a trainable weight.
    through_time : ThroughTime or None
        How ``training=True`` differentiates the neurons (default: spike-aware).
    layer_params : dict or None
        Per layer name, parameters of ``neuron`` that differ in that layer (a run's
        trained constants, `SpikingNet.trained_constants`).
    train_constants : bool
        Make each layer's trainable neuron constant a weight (`SpikingCell`).

    Returns
    -------
    net : SpikingNet
    """
    inp = tf.keras.Input((n_steps, *model.input_shape[1:]), name="input")
    x, spiking = inp, False
    if encoding != "analog":
        x = InputEncoding(encoding, seed=seed, name="input_encoding")(x)
    # time-major inside, (time, batch, ...): the neurons' loops run in that layout, so
    # only the image and the output are transposed, never a layer's activity
    x = layers.Lambda(_swap_time_and_batch, name="time_major")(x)
    names, counts, finites = [], [], []
    weight_layers = {}

    def fold(t):  # (time, batch, ...) -> (time * batch, ...)
        return tf.reshape(t, (-1, *t.shape[2:]))

    def unfold(t):
        return tf.reshape(t, (n_steps, -1, *t.shape[1:]))

    def neurons(z, name, synapse=None, bias=None):
        i = len(names)
        spikes, finite = SpikingActivation(
            with_params(neuron, (layer_params or {}).get(name)),
            dt=dt,
            scale=scale,
            seed=None if seed is None else seed + i,
            initial_state=(initial_states or {}).get(name),
            return_finite=True,
            synapse=synapse,
            bias=bias,
            smoothing=smoothing,
            train_synapse=train_synapses,
            through_time=through_time,
            train_constant=train_constants,
            time_major=True,
            source=name,
            name=_neuron_name(name),
        )(z)
        amplitude = amplitude_of(neuron, scale)
        names.append(name)
        per_step = tf.reduce_sum(
            tf.reshape(spikes, (n_steps, -1, int(np.prod(spikes.shape[2:])))), axis=-1
        )
        counts.append(tf.transpose(per_step) * (dt / amplitude))
        finites.append(finite)
        return spikes

    for layer in chain(model):
        if isinstance(layer, layers.Activation):
            if activation_kind(layer) == "relu":
                x, spiking = neurons(x, layer.name), True
            continue
        if isinstance(layer, RESHAPE + MAX_POOL):
            x = unfold(_clone(layer)(fold(x)))
            continue
        if isinstance(layer, BATCH_NORM):
            # time folded into the batch: one set of statistics over all steps
            norm = _clone(layer)
            x = unfold(norm(fold(x)))
            norm.set_weights(layer.get_weights())
            weight_layers[layer.name] = (norm.name, None)
            continue
        if isinstance(layer, DROPOUT):
            # one mask per image, the same at every step
            x = layers.Dropout(
                layer.rate, noise_shape=(1, None, *x.shape[2:]), seed=layer.seed, name=layer.name
            )(x)
            continue
        tau = synapse_for(synapse, layer.name) if spiking else None
        filtered = tau is not None
        linear, bias = _linear_part(layer, use_bias=not filtered)
        x = unfold(linear(fold(x)))
        if layer.get_weights():
            holder = None if bias is None else _neuron_name(layer.name)
            weight_layers[layer.name] = (linear.name, holder)
        spiking = activation_kind(layer) == "relu"
        if filtered and spiking:
            # synapse, delay and bias run inside the neurons' time loop
            x = neurons(x, layer.name, synapse=tau, bias=bias)
            continue
        if filtered:
            if bias is not None:
                weight_layers[layer.name] = (linear.name, f"{layer.name}_synapse")
            x = Lowpass(
                tau,
                dt,
                delay=True,
                bias=bias,
                train_tau=train_synapses,
                source=layer.name,
                time_major=True,
                name=f"{layer.name}_synapse",
            )(x)
        if spiking:
            x = neurons(x, layer.name)
    tau = synapse_for(synapse, "probe")
    if tau is not None:
        x = Lowpass(
            tau,
            dt,
            delay=True,
            train_tau=train_synapses,
            source="probe",
            time_major=True,
            name="probe_synapse",
        )(x)
    x = layers.Lambda(_swap_time_and_batch, name="batch_major")(x)
    net = tf.keras.Model(inp, [x, *counts, *finites], name=f"{model.name}_spiking")
    return SpikingNet(net, names, neuron, weight_layers)
