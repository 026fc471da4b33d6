"""A Keras model as a Nengo network (`nengo_dl.Converter`): the bridge to Nengo, GUI and Loihi.

The Keras engine (`nengo_mif.keras`) computes what this network computes; this
module is what the ``nengo-dl`` engine, `deploy` and the Nengo GUI run. Weights move
between the two in the Keras format (`nengo_mif.networks.run`): they are set on the Keras
model before conversion, and read back from a trained NengoDL simulator by the
Converter's object labels.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import nengo
import nengo_dl
import numpy as np
from nengo_dl import compat

from nengo_mif._quiet import import_tensorflow, progress_bar
from nengo_mif.defaults import default
from nengo_mif.engines import synapse_for
from nengo_mif.exceptions import ConfigError
from nengo_mif.registry import (
    initial_state,
    neuron_type,
    threshold,
    with_initial_state,
    with_params,
)

tf = import_tensorflow()


def flat(x: np.ndarray) -> np.ndarray:
    """Images as NengoDL wants them: (n, n_steps=1, pixels).

    Returns
    -------
    x : np.ndarray
    """
    return x.reshape(len(x), 1, -1)


def predict_batches(
    conv: Converted,
    x: np.ndarray,
    n_steps: int,
    dt: float = default.dt,
    batch_size: int = default.batch_size,
    seed: int | None = 0,
    rate: bool = False,
    progress: bool = False,
):
    """Run images ``x`` through a converted network in NengoDL, batch by batch.

    The package's one NengoDL simulation loop (evaluation and deployment use it).
    ``rate``: NengoDL's training graph (rate curves, one step); otherwise the
    spiking inference graph over ``n_steps``.

    Returns
    -------
    batches : iterator of dict
        Per batch, the simulator's outputs by probe, ``(batch, n_steps, ...)``.
    """
    batch = min(batch_size, len(x))
    if len(x) % batch:
        raise ConfigError(
            f"NengoDL needs the number of images (n_test, {len(x)}) to be a multiple "
            f"of batch_size ({batch}); change n_test or batch_size"
        )
    with conv.net:
        if rate:
            nengo_dl.configure_settings(learning_phase=True)
        else:
            nengo_dl.configure_settings(inference_only=True)
    steps = 1 if rate else n_steps
    with nengo_dl.Simulator(
        conv.net, minibatch_size=batch, dt=dt, seed=seed, progress_bar=False
    ) as sim:
        for i in progress_bar(range(0, len(x), batch), "nengo-dl", progress):
            yield sim.predict_on_batch({conv.input: np.tile(flat(x[i : i + batch]), (1, steps, 1))})


def neuron_layers(model: tf.keras.Model) -> list[tf.keras.layers.Layer]:
    """Layers whose ReLU becomes a population of neurons.

    Returns
    -------
    layers : list of tf.keras.layers.Layer
    """
    return [
        layer
        for layer in model.layers
        if getattr(layer, "activation", None) in (tf.nn.relu, tf.keras.activations.relu)
    ]


@dataclass
class Converted:
    """A Keras model converted to Nengo, with the probes the package uses.

    ``layer_probes`` record, per neuron layer, either every neuron's output
    (``probe_layers="neurons"``) or their sum (``"sum"``, one number per step).
    """

    model: tf.keras.Model
    converter: nengo_dl.Converter
    input: nengo.Node
    output: nengo.Probe
    layer_probes: dict[str, nengo.Probe]
    threshold_offset: float = 0.0  # J_th / gain, added to the neuron layers' biases

    @property
    def net(self) -> nengo.Network:
        return self.converter.net

    def ensemble(self, layer_name: str) -> nengo.Ensemble:
        """The ensemble that holds a Keras layer's neurons.

        Returns
        -------
        ensemble : nengo.Ensemble
        """
        layer = self.model.get_layer(layer_name)
        return self.converter.layers[layer.output].ensemble


def convert(
    model: tf.keras.Model,
    neuron: str | nengo.neurons.NeuronType,
    synapse: float | dict[str, float] | None = None,
    scale_firing_rates: float | None = None,
    smoothing: float | None = None,
    probe_layers: str | None = None,
    gain_factor: float = 1.0,
    seed: int | None = None,
    layer_params: dict[str, dict[str, float]] | None = None,
) -> Converted:
    """Convert ``model`` with every ReLU swapped for the named neuron type.

    The Keras pre-activation ``z`` drives ``J = J_th + scale * z``, so ``z = 0`` sits
    at the firing threshold, as for ReLU: ``J_th / gain`` is added to the biases of
    the neuron layers (`keras_weights_from_sim` takes it off again) and reaches the
    neurons through the gain, while their own bias stays 0. ``gain_factor`` further
    multiplies every neuron's input gain (used when mapping to another neuron type).
    With a ``seed``, neuron layer ``i`` starts from `registry.initial_state` drawn
    with ``seed + i``, as in the Keras engine, so both engines give the same spikes.
    ``synapse``: one Lowpass time constant on every connection out of neurons and on
    the output, or a dict of them by receiving layer (`engine.synapse_for`).
    ``layer_params``: per layer name, neuron parameters that differ in that layer
    (a run's trained constants).

    Returns
    -------
    converted : Converted
    """
    kind = neuron if isinstance(neuron, nengo.neurons.NeuronType) else neuron_type(neuron)
    scale = scale_firing_rates or 1.0
    j_th = threshold(kind)
    # the model the network is made from (same layer names); converter.layers keys it
    offset = j_th / (scale * gain_factor)  # reaches J through the gain
    model = _with_threshold_bias(model, offset)
    per_layer = isinstance(synapse, dict)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Firing rate scaling")
        converter = nengo_dl.Converter(
            model,
            swap_activations={layer.activation: kind for layer in neuron_layers(model)},
            scale_firing_rates=scale_firing_rates,
            synapse=None if synapse is None or per_layer else nengo.Lowpass(synapse),
        )
    with converter.net:
        # no trainable=None here: that would replace the Converter's own config and
        # lose its non-trainable marks, which makes NengoDL's graph ~4x slower
        nengo_dl.configure_settings(lif_smoothing=smoothing, stateful=False)
        for ens in converter.net.all_ensembles:
            if isinstance(ens.bias, np.ndarray):
                # a dense layer's bias: onto a constant node, as the Converter does for
                # convolutions (a non-zero neuron bias also slows NengoDL's graph ~3x)
                bias_node = nengo.Node([1.0], label=f"{ens.label}.bias")
                nengo.Connection(
                    bias_node, ens.neurons, synapse=None, transform=(ens.bias / scale)[:, None]
                )
                ens.bias = nengo.dists.Choice([0.0])
            if gain_factor != 1.0:
                ens.gain = nengo.dists.Choice([scale * gain_factor])
        for name, params in (layer_params or {}).items():
            ens = converter.layers[model.get_layer(name).output].ensemble
            ens.neuron_type = with_params(ens.neuron_type, params)
        if seed is not None:
            for i, layer in enumerate(neuron_layers(model)):
                ens = converter.layers[layer.output].ensemble
                state = initial_state(ens.neuron_type, ens.n_neurons, seed + i)
                ens.neuron_type = with_initial_state(ens.neuron_type, state)
        if per_layer:
            # as the Converter's one synapse: on every connection out of neurons
            for conn in converter.net.all_connections:
                if isinstance(conn.pre, nengo.ensemble.Neurons):
                    name = _label(conn.post_obj).split(".")[0]
                    conn.synapse = nengo.Lowpass(synapse_for(synapse, name))
        output = converter.outputs[model.layers[-1].output]
        tau = synapse_for(synapse, "probe")
        if tau is not None:
            output.synapse = nengo.Lowpass(tau)
        probes = {}
        for layer in neuron_layers(model) if probe_layers else []:
            neurons = converter.layers[layer.output]
            if probe_layers == "sum":
                # probing every neuron at every step copies (batch, steps, neurons)
                # out of the simulator; a summing node carries one number per step
                total = nengo.Node(size_in=1, label=f"{layer.name}.sum")
                summing = nengo.Connection(
                    neurons, total, synapse=None, transform=np.ones((1, neurons.size_out))
                )
                converter.net.config[summing].trainable = False
                probes[layer.name] = nengo.Probe(total, label=layer.name)
            else:
                probes[layer.name] = nengo.Probe(neurons, label=layer.name)
    return Converted(model, converter, converter.inputs[model.input], output, probes, offset)


def _with_threshold_bias(model: tf.keras.Model, offset: float) -> tf.keras.Model:
    """A copy of ``model`` whose neuron layers' biases are raised by ``offset``."""
    if offset == 0:
        return model
    copy = tf.keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    for layer in neuron_layers(copy):
        if not getattr(layer, "use_bias", False):
            raise ValueError(
                f"layer {layer.name!r} has no bias, so the neuron threshold "
                "cannot be folded into it; use use_bias=True"
            )
        kernel, bias = layer.get_weights()
        layer.set_weights([kernel, bias + offset])
    return copy


def _weight_connections(conv: Converted) -> dict[str, tuple]:
    """Per weighted Keras layer, its (kernel, bias) connections in the network."""
    conns = [c for c in conv.net.all_connections if compat.conn_has_weights(c)]
    found = {}
    for layer in conv.model.layers:
        if not layer.get_weights():
            continue
        prefix = f"{layer.name}."
        kernel = [
            c
            for c in conns
            if _label(c.post_obj).startswith(prefix) and not _label(c.pre_obj).startswith(prefix)
        ]
        bias = [c for c in conns if _label(c.pre_obj) == f"{layer.name}.0.bias"]
        if len(kernel) != 1 or len(bias) > 1:
            raise ValueError(
                f"layer {layer.name!r}: cannot find its weights in the "
                "converted network (one kernel and at most one bias)"
            )
        found[layer.name] = (kernel[0], bias[0] if bias else None)
    return found


def _label(obj) -> str:
    obj = getattr(obj, "ensemble", obj)
    return obj.label or ""


def keras_weights_from_sim(sim: nengo_dl.Simulator, conv: Converted) -> dict[str, list]:
    """The trained weights of every Keras layer, read from a NengoDL simulator.

    Returns
    -------
    weights : dict
        Layer name -> ``[kernel, bias]`` in Keras layout.
    """
    found = _weight_connections(conv)
    flat_conns = [c for pair in found.values() for c in pair if c is not None]
    values = dict(zip(flat_conns, sim.data.get_params(*[(c, "weights") for c in flat_conns])))
    weights = {}
    for name, (kernel_conn, bias_conn) in found.items():
        layer = conv.model.get_layer(name)
        kernel = np.asarray(values[kernel_conn])
        if isinstance(layer, tf.keras.layers.Dense):
            kernel = kernel.T  # the Converter's Dense transform is the kernel transposed
        arrays = [kernel.reshape(layer.get_weights()[0].shape)]
        if bias_conn is not None:
            bias = np.asarray(values[bias_conn])[:, 0]
            if layer in neuron_layers(conv.model):
                bias = bias - conv.threshold_offset
            arrays.append(bias)
        weights[name] = arrays
    return weights
