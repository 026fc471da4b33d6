"""The native NengoDL builders: same spikes as nengo core, trainable, no fallback."""

import nengo
import nengo_dl
import numpy as np
import pytest
import tensorflow as tf
from nengo_dl.neuron_builders import SimNeuronsBuilder

from nengo_mif import MIF, MIF2
from nengo_mif.dl.builders import MemristiveBuilder


def test_builders_registered_on_import():
    assert SimNeuronsBuilder.TF_NEURON_IMPL[MIF] is MemristiveBuilder
    assert SimNeuronsBuilder.TF_NEURON_IMPL[MIF2] is MemristiveBuilder


def spiking_net(neuron_type, n=24, seed=3, dtype="float32"):
    with nengo.Network(seed=seed) as net:
        nengo_dl.configure_settings(dtype=dtype)
        stim = nengo.Node(lambda t: np.sin(2 * np.pi * 3 * t))
        ens = nengo.Ensemble(n, 1, neuron_type=neuron_type, max_rates=nengo.dists.Uniform(100, 900))
        nengo.Connection(stim, ens)
        p_spikes = nengo.Probe(ens.neurons, "output")
        p_voltage = nengo.Probe(ens.neurons, "voltage")
    return net, p_spikes, p_voltage


@pytest.mark.parametrize("Neuron", [MIF, MIF2])
@pytest.mark.parametrize("dt", [2e-4, 1e-3, 5e-3])
def test_spikes_equal_nengo_core(Neuron, dt):
    net, p_spikes, p_voltage = spiking_net(Neuron(), dtype="float64")
    with nengo.Simulator(net, dt=dt, progress_bar=False) as ref:
        ref.run(1.0)
    with nengo_dl.Simulator(net, dt=dt, progress_bar=False) as sim:
        sim.run(1.0)
    assert ref.data[p_spikes].sum() > 100
    np.testing.assert_array_equal(sim.data[p_spikes], ref.data[p_spikes])
    np.testing.assert_allclose(sim.data[p_voltage], ref.data[p_voltage], atol=1e-9)


@pytest.mark.parametrize("Neuron", [MIF, MIF2])
def test_float32_spike_counts_match(Neuron):
    net, p_spikes, _ = spiking_net(Neuron())
    with nengo.Simulator(net, progress_bar=False) as ref:
        ref.run(1.0)
    with nengo_dl.Simulator(net, progress_bar=False) as sim:
        sim.run(1.0)
    counts_ref = ref.data[p_spikes].sum(axis=0)
    counts = sim.data[p_spikes].sum(axis=0)
    np.testing.assert_allclose(counts, counts_ref, rtol=1e-3, atol=2 / ref.dt)


@pytest.mark.parametrize("Neuron", [MIF, MIF2])
def test_training_step_is_rate_curve(Neuron):
    neuron = Neuron(amplitude=0.01)
    J = np.linspace(-2, 30, 41)
    with nengo.Network() as net:
        nengo_dl.configure_settings(learning_phase=True)  # run the training graph
        inp = nengo.Node(np.zeros(len(J)))
        ens = nengo.Ensemble(
            len(J), 1, neuron_type=neuron, gain=np.ones(len(J)), bias=np.zeros(len(J))
        )
        nengo.Connection(inp, ens.neurons, synapse=None)
        p = nengo.Probe(ens.neurons, synapse=None)
    with nengo_dl.Simulator(net, progress_bar=False) as sim:
        out = sim.predict_on_batch({inp: J[None, None, :]})
    # the rate graph in training mode equals neuron.rates
    np.testing.assert_allclose(
        out[p][0, 0], neuron.rates(J, 1.0, 0.0).ravel(), rtol=1e-4, atol=1e-6
    )


@pytest.mark.parametrize("Neuron", [MIF, MIF2])
@pytest.mark.parametrize("smoothing", [None, 0.05])
def test_gradients_flow_and_loss_decreases(Neuron, smoothing):
    """A small converted conv net with memristive neurons learns in a few steps."""
    tf.keras.utils.set_random_seed(0)  # the initial weights too, whatever ran before
    rng = np.random.RandomState(0)
    x = 4 * rng.rand(64, 8, 8, 1).astype("float32")  # drive some units past rheobase
    y = (x[:, :4].mean(axis=(1, 2, 3)) > x[:, 4:].mean(axis=(1, 2, 3))).astype("int32")

    inp = tf.keras.Input((8, 8, 1))
    h = tf.keras.layers.Conv2D(4, 3, activation=tf.nn.relu)(inp)
    h = tf.keras.layers.Flatten()(h)
    out = tf.keras.layers.Dense(2)(h)
    model = tf.keras.Model(inp, out)
    converter = nengo_dl.Converter(model, swap_activations={tf.nn.relu: Neuron(amplitude=1e-3)})
    with converter.net:
        nengo_dl.configure_settings(lif_smoothing=smoothing, stateful=False)
    with nengo_dl.Simulator(converter.net, minibatch_size=16, seed=0, progress_bar=False) as sim:
        sim.compile(
            optimizer=tf.optimizers.Adam(1e-2),
            loss=tf.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        data = (
            {converter.inputs[inp]: x.reshape(64, 1, -1)},
            {converter.outputs[out]: y.reshape(64, 1, 1)},
        )
        before = sim.evaluate(*data, verbose=0)["loss"]
        sim.fit(*data, epochs=15, verbose=0)
        after = sim.evaluate(*data, verbose=0)["loss"]
        grads = sim.keras_model.trainable_weights
    assert np.isfinite(after)
    assert after < 0.8 * before
    assert grads  # there were weights to train


@pytest.mark.parametrize("Neuron", [MIF, MIF2])
def test_nonfinite_input_is_a_clear_error(Neuron):
    with nengo.Network() as net:
        # a TensorNode, since nengo itself rejects non-finite Node output
        inp = nengo_dl.TensorNode(
            lambda t: tf.constant([[np.nan, 1.0]]), shape_in=None, shape_out=(2,), pass_time=True
        )
        ens = nengo.Ensemble(2, 1, neuron_type=Neuron(), gain=[1.0, 1.0], bias=[2.0, 2.0])
        nengo.Connection(inp, ens.neurons)
    with nengo_dl.Simulator(net, progress_bar=False) as sim:
        with pytest.raises(tf.errors.InvalidArgumentError, match="NaN or inf"):
            sim.run_steps(3)
