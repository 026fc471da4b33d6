"""The Keras engine computes what NengoDL computes: rates, spikes, accuracy."""

import nengo
import nengo_dl
import numpy as np
import pytest
import tensorflow as tf
from conftest import run_python
from nengo_mif.networks.config import EvalConfig, TrainConfig
from nengo_mif.networks.evaluate import evaluate
from nengo_mif.networks.train import train

from nengo_mif import MIF, MIF2
from nengo_mif.dl.conversion import convert
from nengo_mif.exceptions import EngineError, NonFiniteInput
from nengo_mif.keras import Lowpass, SpikingActivation
from nengo_mif.keras.convert import rate_model, spiking_model
from nengo_mif.registry import REGISTRY, neuron_type

N_STEPS = 25


def small_net(seed=1):
    tf.keras.utils.set_random_seed(seed)
    inp = tf.keras.Input((12, 12, 1), name="input")
    x = tf.keras.layers.Conv2D(4, 3, activation=tf.nn.relu, name="conv0")(inp)
    x = tf.keras.layers.Conv2D(6, 3, strides=2, activation=tf.nn.relu, name="conv1")(x)
    x = tf.keras.layers.Flatten(name="flatten")(x)
    x = tf.keras.layers.Dense(8, activation=tf.nn.relu, name="dense")(x)
    model = tf.keras.Model(inp, tf.keras.layers.Dense(5, name="output")(x))
    rng = np.random.RandomState(0)
    for layer in model.layers:
        if layer.get_weights():
            w, b = layer.get_weights()
            # drive most units past threshold, some below
            layer.set_weights([3 * w, rng.uniform(-0.1, 0.5, b.shape).astype("float32")])
    return model


@pytest.mark.parametrize("name", list(REGISTRY))
@pytest.mark.parametrize("smoothing", [None, 0.05])
def test_rate_outputs_equal_nengo_dl(name, smoothing, images):
    model = small_net()
    conv = convert(model, name, smoothing=smoothing)
    with conv.net:
        nengo_dl.configure_settings(learning_phase=True)  # NengoDL's training graph
    with nengo_dl.Simulator(conv.net, minibatch_size=len(images), progress_bar=False) as sim:
        ref = sim.predict_on_batch({conv.input: images.reshape(len(images), 1, -1)})
    ref = ref[conv.output][:, 0]
    out = rate_model(model, neuron_type(name), smoothing=smoothing)(images).numpy()
    assert np.abs(ref).max() > 0.1
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())


def _neuron_outputs(net, name):
    return tf.keras.Model(net.model.input, net.spikes(name))


def assert_spikes_equal_nengo_dl(kind, scale, images, max_per_step=None, synapse=0.005):
    """Per neuron, per step: the same spike counts as NengoDL from the same state."""
    model = small_net()
    conv = convert(
        model, kind, synapse=synapse, scale_firing_rates=scale, probe_layers="neurons", seed=3
    )
    x = np.tile(images.reshape(len(images), 1, -1), (1, N_STEPS, 1))
    with nengo_dl.Simulator(conv.net, minibatch_size=len(images), progress_bar=False) as sim:
        ref = sim.predict_on_batch({conv.input: x})
    net = spiking_model(model, kind, N_STEPS, synapse=synapse, scale=scale, seed=3)
    out, counts = net.predict(images, N_STEPS, len(images))
    alpha = getattr(kind, "amplitude", 1.0) / scale / 0.001
    total = 0
    for layer, probe in conv.layer_probes.items():
        spikes = _neuron_outputs(net, layer)(np.repeat(images[:, None], N_STEPS, axis=1))
        n_ref = np.rint(ref[probe] / alpha)
        n_out = np.rint(spikes.numpy().reshape(n_ref.shape) / alpha)
        assert max_per_step is None or n_ref.max() <= max_per_step
        total += n_ref.sum()
        # float32 rounding in the convolutions (different summation order) may put a
        # voltage a hair on the other side of threshold; bound how often that happens
        flips = np.abs(n_out - n_ref).sum()
        assert flips <= 1e-3 * n_ref.sum(), (layer, flips, n_ref.sum())
        np.testing.assert_allclose(counts[layer].sum(), n_ref.sum(), rtol=1e-3)
    assert total > 500  # the layers really spike
    np.testing.assert_allclose(out, ref[conv.output], atol=1e-3 * np.abs(ref[conv.output]).max())


@pytest.mark.parametrize(
    "name,scale", [("lif", 1.0), ("mif", 1.0), ("mif2", 2.0), ("spiking-relu", 50.0)]
)
def test_spikes_equal_nengo_dl_step_for_step(name, scale, images):
    assert_spikes_equal_nengo_dl(neuron_type(name), scale, images)


def test_lowpass_is_nengos():
    x = np.random.RandomState(0).rand(2, 40, 3).astype("float32")
    for tau in (0.002, 0.005, 0.05):
        ref = nengo.Lowpass(tau).filt(x, dt=0.001, axis=1, y0=0)
        out = Lowpass(tau, dt=0.001)(x).numpy()
        np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)
        delayed = Lowpass(tau, dt=0.001, delay=True)(x).numpy()
        np.testing.assert_allclose(delayed[:, 1:], out[:, :-1])
        assert np.all(delayed[:, 0] == 0)


@pytest.mark.parametrize("neuron", [nengo.LIF(), MIF(), MIF2()])
def test_stateful_layer_carries_state(neuron):
    z = np.random.RandomState(1).uniform(0, 3, (2, 20, 7)).astype("float32")
    whole = SpikingActivation(neuron, seed=0)(z).numpy()
    layer = SpikingActivation(neuron, seed=0, stateful=True)
    halves = np.concatenate([layer(z[:, :10]).numpy(), layer(z[:, 10:]).numpy()], axis=1)
    np.testing.assert_array_equal(halves, whole)
    assert whole.sum() > 0


def test_unsupported_layers_name_the_layer_and_the_fix():
    inp = tf.keras.Input((8, 8, 1))
    x = tf.keras.layers.Conv2D(2, 3, activation=tf.nn.relu, name="c")(inp)
    x = tf.keras.layers.UpSampling2D(name="up")(x)
    upsampled = tf.keras.Model(inp, tf.keras.layers.Flatten()(x))
    with pytest.raises(EngineError, match="'up'.*UpSampling2D.*--engine nengo-dl"):
        rate_model(upsampled, MIF())
    sig = tf.keras.Model(inp, tf.keras.layers.Dense(3, activation="sigmoid", name="d")(inp))
    with pytest.raises(EngineError, match="'d'.*sigmoid.*--engine nengo-dl"):
        spiking_model(sig, MIF(), 5)


@pytest.mark.parametrize("neuron", [MIF(), MIF2(), nengo.LIF()])
def test_nonfinite_input_is_a_clear_error(neuron, images):
    model = small_net()
    net = spiking_model(model, neuron, 5)
    bad = images.copy()
    bad[3, 2, 2] = np.nan
    with pytest.raises(NonFiniteInput, match="NaN or inf in layer 'conv0'"):
        net.predict(bad, 5, 4)


def test_engine_loads_neither_nengo_dl_nor_loihi():
    assert (
        run_python(
            "import sys, nengo_mif.keras.engine, nengo_mif.networks.evaluate, "
            "nengo_mif.networks.train; "
            "print(sorted(m for m in ('nengo_dl', 'nengo_loihi') if m in sys.modules))"
        )
        == "[]"
    )


def test_import_nengo_mif_loads_no_tensorflow():
    assert (
        run_python(
            "import sys, nengo, nengo_mif, nengo_mif.networks; "
            "nengo.Simulator(nengo.Network(), progress_bar=False); "
            "print('tensorflow' in sys.modules, 'nengo_dl' in sys.modules)"
        )
        == "False False"
    )


def test_nengo_dl_builders_register_when_nengo_dl_is_imported_later():
    assert (
        run_python(
            "import nengo_mif, nengo_dl; from nengo_dl.neuron_builders import "
            "SimNeuronsBuilder as S; print(S.TF_NEURON_IMPL[nengo_mif.MIF2].__name__)"
        )
        == "MemristiveBuilder"
    )


@pytest.mark.slow
@pytest.mark.parametrize("neuron", ["relu", "lif", "mif", "mif2"])
def test_engines_agree_on_200_real_images(neuron, tmp_path, tiny_model):
    """Trained on one engine, evaluated on both: the same accuracy at 30 steps."""
    train(
        TrainConfig(model="tiny_cnn", neuron=neuron, epochs=2, max_train=2000),
        tmp_path,
        verbose=False,
    )
    reports = {
        engine: evaluate(
            tmp_path, EvalConfig(n_test=200, n_steps=30, engine=engine), progress=False
        )
        for engine in ("keras", "nengo-dl")
    }
    k, d = reports["keras"], reports["nengo-dl"]
    assert k["n_test"] == 200 and k["accuracy"] > 0.5
    assert abs(k["accuracy"] - d["accuracy"]) <= 0.005
    for layer in ("conv0", "conv1"):
        np.testing.assert_allclose(
            k["layers"][layer]["spikes_per_image"],
            d["layers"][layer]["spikes_per_image"],
            rtol=2e-3,
        )


@pytest.mark.parametrize("name", ["lif", "mif", "mif2"])
@pytest.mark.parametrize("smoothing", [None, 0.01])
def test_fused_rate_gradient_is_the_rate_curves_slope(name, smoothing):
    """One XLA pass gives rate and slope; they equal the unfused curve and its autodiff."""
    from nengo_mif.keras import RateActivation

    kind = neuron_type(name)
    layer = RateActivation(kind, smoothing=smoothing)
    j_th = layer.maths.j_th
    # below, at and above threshold, near and past latch-up (MIF: J = 5000, MIF2: 5010;
    # exactly on it float32 rounding decides), and far beyond (|J| up to 1e6)
    z = tf.constant(
        np.concatenate(
            [np.linspace(-3, 40, 200), [0.0, 1e-7, 4990 - j_th, 5100 - j_th, 1e6, -1e6]]
        ).astype("float32")
    )
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(z)
        fused = layer(z)
        plain = layer.maths.rate(j_th + z) * layer.amplitude
    np.testing.assert_allclose(fused, plain, rtol=1e-5)  # XLA reorders float32 ops
    grad_fused = tape.gradient(fused, z).numpy()
    grad_plain = tape.gradient(plain, z).numpy()
    assert np.all(np.isfinite(grad_fused))
    # the slope near latch-up is steep and ill-conditioned: rounding differs ~1e-5
    np.testing.assert_allclose(grad_fused, grad_plain, rtol=1e-4, atol=1e-12)
    assert grad_fused[50:150].max() > 0  # the curve rises above threshold
