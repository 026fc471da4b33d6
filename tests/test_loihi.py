"""Loihi's neuron types in the Keras engine and Loihi-aware training."""

from dataclasses import replace

import nengo_dl
import numpy as np
import pytest
import tensorflow as tf
from nengo_loihi.neurons import LoihiLIF, LoihiSpikingRectifiedLinear, loihi_rates
from test_engine import assert_spikes_equal_nengo_dl, small_net

from nengo_mif.dl.conversion import convert
from nengo_mif.keras.convert import rate_model
from nengo_mif.keras.maths import neuron_maths

LOIHI_TYPES = {
    "loihi-lif": (LoihiLIF(amplitude=0.01), 1.0),
    "loihi-spiking-relu": (LoihiSpikingRectifiedLinear(amplitude=0.01), 100.0),
}


@pytest.mark.parametrize("name", list(LOIHI_TYPES))
def test_loihi_rate_curves_are_loihis(name):
    """Forward: Loihi's staircase (nengo_loihi's own rates); backward: a smooth slope."""
    kind, _ = LOIHI_TYPES[name]
    maths = neuron_maths(kind, smoothing=0.01)
    J = np.linspace(-1, 40, 4001)
    ref = loihi_rates(kind, J, np.ones(1), np.zeros(1), 0.001).ravel() / kind.amplitude
    Jt = tf.constant(J, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(Jt)
        out = maths.rate(Jt)
    slope = tape.gradient(out, Jt).numpy()
    # ceil(period / dt) jumps; float32 vs float64 may land on either side at a jump
    same = np.isclose(out.numpy(), ref, rtol=1e-4)
    assert same.mean() > 0.99
    assert np.all(np.isfinite(slope)) and np.all(slope[ref > 0] > 0)


@pytest.mark.parametrize("name", list(LOIHI_TYPES))
def test_loihi_rates_equal_nengo_extras_builders(name, images):
    """The rate network equals NengoDL's with nengo-extras' builders for Loihi's types."""
    kind, scale = LOIHI_TYPES[name]
    model = small_net()
    conv = convert(model, kind, scale_firing_rates=scale, smoothing=0.01)
    with conv.net:
        nengo_dl.configure_settings(learning_phase=True)
    with nengo_dl.Simulator(conv.net, minibatch_size=len(images), progress_bar=False) as sim:
        ref = sim.predict_on_batch({conv.input: images.reshape(len(images), 1, -1)})
    ref = ref[conv.output][:, 0]
    rm = rate_model(model, kind, smoothing=0.01, scale=scale)
    out = rm(images).numpy()
    assert np.abs(ref).max() > 0.05
    # a neuron whose period sits on a step boundary may take the other step (float32
    # summation order); that moves the output by a fraction of a percent
    np.testing.assert_allclose(out, ref, atol=0.01 * np.abs(ref).max())
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(rm(images) ** 2)
    grads = tape.gradient(loss, rm.trainable_weights)
    assert all(np.all(np.isfinite(g.numpy())) for g in grads)
    assert np.abs(grads[0].numpy()).max() > 0


@pytest.mark.parametrize("name", list(LOIHI_TYPES))
def test_loihi_spikes_equal_nengo_extras_builders(name, images):
    kind, scale = LOIHI_TYPES[name]
    assert_spikes_equal_nengo_dl(kind, scale, images, max_per_step=1)  # Loihi: one per step


def test_loihi_fine_tuning_stores_its_neurons_and_resumes(tiny_model, tmp_path):
    from nengo_mif.deploy.config import DeployConfig
    from nengo_mif.deploy.run import loihi_neurons_for
    from nengo_mif.deploy.training import LOIHI
    from nengo_mif.networks.config import ConfigError, TrainConfig
    from nengo_mif.networks.run import Run
    from nengo_mif.networks.train import train

    cfg = TrainConfig(model="tiny_cnn", neuron="mif", epochs=1, loihi_epochs=1, max_train=1000)
    with pytest.raises(ConfigError, match="loihi_epochs needs the Loihi neurons"):
        train(cfg, tmp_path / "no-target", verbose=False)
    state = train(cfg, tmp_path, verbose=False, loihi=LOIHI)
    assert [h["phase"] for h in state["history"]] == ["rate", "loihi"]
    stored = state["loihi"]["neurons"]
    assert stored["type"] == "LoihiLIF" and stored["mapping"]["source"] == "MIF"
    # one more Loihi epoch: resumes, keeps the neurons it was tuned against, lowers the loss
    state = train(replace(cfg, loihi_epochs=2), tmp_path, resume=True, verbose=False, loihi=LOIHI)
    assert [h["phase"] for h in state["history"]] == ["rate", "loihi", "loihi"]
    assert state["loihi"]["neurons"] == stored
    assert state["history"][2]["loss"] < state["history"][1]["loss"]
    # deploy runs exactly those neurons (same settings), or refits for other settings
    run = Run.open(tmp_path)
    neurons = loihi_neurons_for(run, run.keras_model(), DeployConfig())
    assert neurons.gain_factor == stored["gain_factor"]
    assert neurons.kind.tau_rc == stored["params"]["tau_rc"]
    other = loihi_neurons_for(run, run.keras_model(), DeployConfig(max_rate=150))
    assert other.mapping.max_rate == 150
    with pytest.raises(ConfigError, match="does not continue it"):
        train(
            replace(cfg, epochs=2, loihi_epochs=2),
            tmp_path,
            resume=True,
            verbose=False,
            loihi=LOIHI,
        )


def test_loihi_aware_rate_fit_reproduces_the_deployed_rates(images):
    """The rate model fine-tuned against computes what the converted deployment runs."""
    from nengo_mif.deploy.mapping import LoihiNeurons, fit_lif
    from nengo_mif.networks.config import TrainConfig

    from nengo_mif import MIF
    from nengo_mif.keras.fit import RateFit

    mapping = fit_lif(MIF(amplitude=1e-3), u_max=1.5)
    neurons = LoihiNeurons(mapping.neuron(), 2.0, mapping.gain, mapping)
    model = small_net()
    fit = RateFit(model, neurons.kind, TrainConfig(), neurons.scale, neurons.gain_factor)
    out = fit.rate(images).numpy()
    conv = convert(model, neurons.kind, scale_firing_rates=2.0, gain_factor=mapping.gain)
    with conv.net:
        nengo_dl.configure_settings(learning_phase=True)
    with nengo_dl.Simulator(conv.net, minibatch_size=len(images), progress_bar=False) as sim:
        ref = sim.predict_on_batch({conv.input: images.reshape(len(images), 1, -1)})
    ref = ref[conv.output][:, 0]
    np.testing.assert_allclose(out, ref, atol=0.01 * np.abs(ref).max())
