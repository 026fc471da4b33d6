"""Spike-aware training, trained synapses, input encodings and settings chosen on validation."""

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest
import tensorflow as tf
from nengo_mif.networks.config import (
    TUNE_SYNAPSES,
    ConfigError,
    EvalConfig,
    TrainConfig,
    for_run,
)
from nengo_mif.networks.evaluate import evaluate, readout
from nengo_mif.networks.run import Run
from nengo_mif.networks.train import TrainingInterrupted, train
from nengo_mif.networks.tune import default_scales, tune
from test_engine import assert_spikes_equal_nengo_dl, small_net

from nengo_mif.keras import InputEncoding, SpikingActivation
from nengo_mif.keras.convert import spiking_model
from nengo_mif.keras.fit import RateFit, SpikeAwareFit
from nengo_mif.registry import neuron_type, record, spiking_counterpart, threshold

SMALL = dict(model="tiny_cnn", max_train=1000, batch_size=50, seed=1)


@pytest.mark.slow
@pytest.mark.parametrize("neuron", ["lif", "mif"])
def test_spike_aware_training_beats_rate_training_at_10_steps(neuron, tiny_model, tmp_path):
    """Same seed and start: spike-aware epochs lower the loss and raise 10-step accuracy."""
    rate = TrainConfig(neuron=neuron, epochs=2, n_steps=10, **SMALL)
    train(rate, tmp_path, verbose=False)
    ten = EvalConfig(n_steps=10, n_test=500)
    before = evaluate(tmp_path, ten, progress=False)["accuracy"]
    state = train(replace(rate, spike_aware_epochs=2), tmp_path, resume=True, verbose=False)
    aware = [h for h in state["history"] if h["phase"] == "spike-aware"]
    assert len(aware) == 2 and aware[1]["loss"] < aware[0]["loss"]
    after = evaluate(tmp_path, ten, progress=False)["accuracy"]
    assert after > before + 0.02, (before, after)
    assert Run.open(tmp_path).state["settings"]["source"] == "spike-aware training"


def test_spike_aware_loss_falls_from_scratch(tiny_model, tmp_path):
    cfg = TrainConfig(neuron="lif", epochs=0, spike_aware_epochs=2, n_steps=5, **SMALL)
    state = train(cfg, tmp_path, verbose=False)
    assert [h["phase"] for h in state["history"]] == ["spike-aware"] * 2
    assert state["history"][1]["loss"] < state["history"][0]["loss"]


@pytest.mark.parametrize("name", ["mif", "mif2"])
def test_gradients_finite_at_extreme_inputs(name):
    """Straight-through gradients stay finite at rheobase, latch-up and |J| = 1e6."""
    kind = neuron_type(name)
    j_th = threshold(kind)
    latch = kind.g1_on * kind.v_hold
    currents = np.array(
        [j_th, j_th + 1e-6, latch, 2 * latch, -1e6, 1e6, 0.0, j_th - 1e-3], "float32"
    )
    z = tf.constant(np.tile((currents - j_th)[None, None], (2, 6, 1)))  # scale 1: J = j_th + z
    for synapse in (None, 0.005):
        layer = SpikingActivation(kind, synapse=synapse, smoothing=0.01)
        with tf.GradientTape() as tape:
            tape.watch(z)
            out = layer(z, training=True)
            loss = tf.reduce_sum(out * tf.range(1.0, 7.0)[None, :, None])
        grad = tape.gradient(loss, [z, *layer.trainable_weights])
        for g in grad:
            assert np.all(np.isfinite(g.numpy())), (synapse, g)
        assert np.abs(grad[0].numpy()).max() > 0  # something flows
        # the forward pass is the same spikes as inference
        np.testing.assert_array_equal(out.numpy(), layer(z, training=False).numpy())


@pytest.mark.parametrize(
    "neuron,method", [("lif", "spike-aware"), ("mif", "bptt")], ids=["spike-aware", "bptt"]
)
def test_interrupted_run_through_time_resumes_losing_one_epoch(
    neuron, method, tiny_model, tmp_path, monkeypatch
):
    """Killed mid-epoch, a run through time resumes from the last saved epoch."""
    epochs = {f"{method.replace('-', '_')}_epochs": 2}
    cfg = TrainConfig(neuron=neuron, epochs=1, n_steps=4, **epochs, **SMALL)
    reference = train(cfg, tmp_path / "ref", verbose=False)
    assert reference["settings"]["source"] == f"{method} training"
    assert all(h["peak_memory_mb"] > 0 for h in reference["history"])
    original = SpikeAwareFit.fit_epoch
    calls = []

    def cut_mid_epoch(self, x, y):
        calls.append(1)
        if len(calls) == 2:  # the second epoch through time, after part of its batches
            self.model.train_on_batch(x[:50], y[:50])
            raise KeyboardInterrupt
        return original(self, x, y)

    monkeypatch.setattr(SpikeAwareFit, "fit_epoch", cut_mid_epoch)
    with pytest.raises(TrainingInterrupted, match="epoch 2 is safely in"):
        train(cfg, tmp_path / "cut", verbose=False)
    monkeypatch.setattr(SpikeAwareFit, "fit_epoch", original)
    resumed = train(cfg, tmp_path / "cut", resume=True, verbose=False)
    assert [h["phase"] for h in resumed["history"]] == ["rate", method, method]
    assert [h["loss"] for h in resumed["history"]] == pytest.approx(
        [h["loss"] for h in reference["history"]], rel=1e-4
    )


def test_trained_synapses_are_stored_and_used(tiny_model, tmp_path):
    cfg = TrainConfig(
        neuron="lif",
        epochs=1,
        spike_aware_epochs=1,
        n_steps=5,
        train_synapses=True,
        learning_rate=0.01,
        **SMALL,
    )
    train(cfg, tmp_path, verbose=False)
    settings = Run.open(tmp_path).state["settings"]
    taus = settings["synapse"]
    assert set(taus) == {"conv1", "output", "probe"}
    assert any(abs(t - 0.005) > 1e-6 for t in taus.values())  # they moved
    report = evaluate(tmp_path, EvalConfig(n_steps=5, n_test=50), progress=False)
    assert report["synapse"] == taus
    # and an explicit setting still wins
    assert (
        evaluate(tmp_path, EvalConfig(n_steps=5, n_test=50, synapse=0), progress=False)["synapse"]
        is None
    )


def test_keras_weights_round_trip():
    model = small_net()
    net = spiking_model(model, neuron_type("lif"), 4, synapse=0.005)
    weights = net.keras_weights()
    for layer in model.layers:
        if layer.get_weights():
            for a, b in zip(weights[layer.name], layer.get_weights()):
                np.testing.assert_array_equal(a, b)


def test_per_layer_synapses_equal_nengo_dl(images):
    synapse = {"conv1": 0.002, "dense": 0.008, "output": 0.004, "probe": 0.01}
    assert_spikes_equal_nengo_dl(neuron_type("lif"), 1.0, images, synapse=synapse)


def test_input_encodings():
    x = np.random.RandomState(0).rand(4, 2000, 3).astype("float32")
    for kind in ("poisson", "bernoulli"):
        a, b = (InputEncoding(kind, seed=5)(x).numpy() for _ in range(2))
        np.testing.assert_array_equal(a, b)  # seeded
        np.testing.assert_allclose(a.mean(axis=1), x.mean(axis=1), atol=0.08)
        assert np.all(a == np.round(a)) and a.min() >= 0
    assert InputEncoding("bernoulli")(x).numpy().max() == 1
    img = np.array([[0.0, 0.5, 1.0]], "float32")
    lat = InputEncoding("latency")(np.repeat(img[:, None], 11, axis=1)).numpy()[0]
    assert lat.sum(axis=0).tolist() == [0, 1, 1]  # black never fires
    assert np.argmax(lat[:, 2]) == 0 and np.argmax(lat[:, 1]) == 5  # brighter is earlier
    np.testing.assert_array_equal(InputEncoding("analog")(x).numpy(), x)


def test_evaluation_with_poisson_input(tiny_model, tmp_path):
    train(TrainConfig(neuron="mif", epochs=2, **SMALL), tmp_path, verbose=False)
    analog = evaluate(tmp_path, EvalConfig(n_steps=20, n_test=200), progress=False)
    poisson = evaluate(
        tmp_path, EvalConfig(n_steps=20, n_test=200, encoding="poisson"), progress=False
    )
    assert poisson["encoding"] == "poisson"
    assert poisson["accuracy"] != analog["accuracy"] or poisson["layers"] != analog["layers"]
    assert analog["accuracy"] > 0.4  # 10 classes: chance is 0.1
    assert poisson["accuracy"] > max(0.3, analog["accuracy"] - 0.2)  # works on noisy spikes
    with pytest.raises(ConfigError, match="keras engine only"):
        EvalConfig(encoding="poisson", engine="nengo-dl")
    data = Run.open(tmp_path).data
    data.x_test = data.x_test * 255  # unscaled pixels
    with pytest.raises(ConfigError, match=r"needs pixel values in \[0, 1\]"):
        evaluate(tmp_path, EvalConfig(n_test=10, encoding="bernoulli"), data, progress=False)


def test_tune_chooses_on_validation_and_evaluate_uses_it(tiny_model, tmp_path):
    cfg = TrainConfig(neuron="lif", epochs=1, validation=100, **SMALL)
    train(cfg, tmp_path, verbose=False)
    settings = tune(
        tmp_path, synapses=(0.002, 0.01), scales=(1.0, 2.0), config=EvalConfig(n_steps=10)
    )
    assert len(settings["sweep"]) == 4
    assert settings["val_accuracy"] == max(s["val_accuracy"] for s in settings["sweep"])
    assert "100 held-out images" in settings["source"]
    report = evaluate(tmp_path, EvalConfig(n_steps=10, n_test=50), progress=False)
    scale = settings["scale_firing_rates"] * record("lif").spiking_scale
    assert (report["synapse"], report["scale_firing_rates"]) == (settings["synapse"], scale)
    # settings for another presentation length, returned and not stored
    other = tune(
        tmp_path, synapses=(0.003,), scales=(3.0,), config=EvalConfig(n_steps=5), store=False
    )
    assert other["synapse"] == 0.003 and "5 steps" in other["source"]
    assert Run.open(tmp_path).state["settings"] == settings
    train(TrainConfig(neuron="lif", epochs=1, **SMALL), tmp_path / "noval", verbose=False)
    with pytest.raises(ConfigError, match="no validation images"):
        tune(tmp_path / "noval")


def test_tune_sweeps_short_synapses_and_high_relu_scales(tiny_model, tmp_path):
    """The default grid reaches what 10-step presentations need (1 ms; ReLU x30)."""
    train(TrainConfig(neuron="relu", epochs=1, validation=100, **SMALL), tmp_path, verbose=False)
    settings = tune(tmp_path, n_val=20, config=EvalConfig(n_steps=3))
    swept = {(s["synapse"], s["scale_firing_rates"]) for s in settings["sweep"]}
    assert swept == {(t, k) for t in TUNE_SYNAPSES for k in default_scales("relu")}
    assert min(TUNE_SYNAPSES) <= 0.001 and max(default_scales("relu")) >= 30
    assert max(default_scales("lif")) == 3.0  # LIF saturates: higher scales do not help


def test_readout_averages_the_last_k_steps():
    out = np.arange(12, dtype=float).reshape(1, 6, 2)
    r = readout(out, 3)
    np.testing.assert_allclose(r[0, -1], out[0, 3:].mean(axis=0))
    np.testing.assert_allclose(r[0, 0], out[0, 0])
    np.testing.assert_array_equal(readout(out, 1), out)


def test_settings_resolution():
    config = for_run(EvalConfig(), {"synapse": {"a": 0.1}, "scale_firing_rates": 2.0})
    assert config.synapse == {"a": 0.1} and config.scale_firing_rates == 2.0
    assert config.readout_steps == 1 and config.encoding == "analog"
    assert for_run(EvalConfig(synapse=0), {"synapse": 0.01}).synapse is None
    assert for_run(EvalConfig(), {}).synapse == 0.005


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(epochs=0), "are all 0"),
        (dict(readout_steps=40, n_steps=30), "readout_steps"),
        (dict(train_synapses=True, synapse=0), "train_synapses"),
        (dict(spike_aware_epochs=1, engine="nengo-dl"), "keras engine"),
        (dict(encoding="morse"), "encoding"),
        (dict(spike_reg=-1.0), "spike_reg"),
        (dict(spike_aware_learning_rate=0.0), "spike_aware_learning_rate"),
        (dict(shift=-1), "shift"),
        (dict(train_readouts=(10, 40), n_steps=30), "train_readouts: step 40"),
        (dict(train_readouts=(0,)), "train_readouts"),
    ],
)
def test_spike_aware_settings_are_checked(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        TrainConfig(**kwargs)


def test_phases_cannot_go_backwards(tiny_model, tmp_path):
    cfg = TrainConfig(
        neuron="lif", epochs=1, spike_aware_epochs=1, n_steps=3, train_readouts=(2,), **SMALL
    )
    train(cfg, tmp_path, verbose=False)
    # settings given as tuples match the lists they were saved as
    more = train(replace(cfg, spike_aware_epochs=2), tmp_path, resume=True, verbose=False)
    assert more["epochs_done"] == 3
    with pytest.raises(ConfigError, match="does not continue it"):
        train(replace(cfg, epochs=2), tmp_path, resume=True, verbose=False)
    with pytest.raises(ConfigError, match="n_steps"):  # spike-aware settings now fixed
        train(replace(cfg, n_steps=5, spike_aware_epochs=3), tmp_path, resume=True, verbose=False)


def test_cli_spike_aware_train_tune_evaluate(tmp_path, capsys):
    from nengo_mif.cli import main

    run = str(tmp_path / "run")
    common = ["--max-train", "300", "--neuron", "lif"]
    assert main(["train", "--run-dir", run, *common, "--epochs", "1", "--validation", "100"]) == 0
    assert (
        main(["tune", "--run-dir", run, "--synapses", "0.004", "--scales", "2", "--n-steps", "6"])
        == 0
    )
    assert "scale 2" in capsys.readouterr().out
    assert main(["evaluate", "--run-dir", run, "--n-test", "50", "--n-steps", "6"]) == 0
    assert "Lowpass(0.004 s)" in capsys.readouterr().out
    args = ["--spike-aware-epochs", "1", "--n-steps", "4", "--train-synapses", "--resume"]
    assert (
        main(["train", "--run-dir", run, *common, "--epochs", "1", "--validation", "100", *args])
        == 0
    )
    state = Run.open(run).state
    assert state["history"][-1]["phase"] == "spike-aware"
    assert isinstance(state["settings"]["synapse"], dict)


def test_spike_penalty_lowers_spike_counts(tiny_model, tmp_path):
    """The energy penalty trades spikes away: fewer spikes per image than without it."""
    base = TrainConfig(neuron="mif", epochs=1, n_steps=5, **SMALL)
    train(base, tmp_path / "start", verbose=False)
    spikes = {}
    for reg in (0.0, 0.05):
        run_dir = tmp_path / f"reg{reg}"
        shutil.copytree(tmp_path / "start", run_dir)
        cfg = replace(base, spike_aware_epochs=2, spike_reg=reg)
        train(cfg, run_dir, resume=True, verbose=False)
        report = evaluate(run_dir, EvalConfig(n_steps=5, n_test=100), progress=False)
        spikes[reg] = report["spikes_per_image"]
    assert spikes[0.05] < 0.7 * spikes[0.0], spikes


def test_spike_aware_phase_starts_a_fresh_optimizer_at_its_own_rate(
    tiny_model, tmp_path, monkeypatch
):
    """Resumed at the phase boundary or not, spike-aware epochs start a new Adam at their rate."""
    rate = TrainConfig(neuron="lif", epochs=1, n_steps=3, **SMALL)
    train(rate, tmp_path / "a", verbose=False)
    seen = []
    original = SpikeAwareFit.fit_epoch

    def record_optimizer(self, x, y):
        opt = self.optimizer
        seen.append((int(opt.iterations.numpy()), float(opt.learning_rate.numpy())))
        return original(self, x, y)

    monkeypatch.setattr(SpikeAwareFit, "fit_epoch", record_optimizer)
    aware = replace(rate, spike_aware_epochs=2, spike_aware_learning_rate=1e-5)
    train(aware, tmp_path / "a", resume=True, verbose=False)  # resumed at the boundary
    train(aware, tmp_path / "b", verbose=False)  # both phases in one call
    steps = 1000 // 50
    assert seen[0] == seen[2] == (0, pytest.approx(1e-5))
    assert seen[1][0] == seen[3][0] == steps  # the second epoch continues the phase's Adam


def test_training_with_random_shifts_and_flips(tiny_model, tmp_path, monkeypatch):
    shown = []
    original = RateFit.fit_epoch

    def keep(self, x, y):
        shown.append(x)
        return original(self, x, y)

    monkeypatch.setattr(RateFit, "fit_epoch", keep)
    cfg = TrainConfig(neuron="relu", epochs=2, shift=2, **SMALL)
    train(cfg, tmp_path / "a", verbose=False)
    x = Run.open(tmp_path / "a").data.x_train[:1000]
    assert shown[0].shape == x.shape and not np.array_equal(shown[0], x)
    assert not np.array_equal(shown[0], shown[1])  # new shifts every epoch
    # MNIST digits mostly have empty borders: a shift of 2 moves their ink, losing none
    kept = np.isclose(shown[0].sum((1, 2, 3)), x.sum((1, 2, 3)), rtol=1e-5)
    assert kept.mean() > 0.9, kept.mean()
    with pytest.raises(ConfigError, match="shift .* smaller than the images"):
        train(replace(cfg, shift=28), tmp_path / "b", verbose=False)
    shown.clear()
    train(replace(cfg, shift=0, flip=True, epochs=1), tmp_path / "c", verbose=False)
    same = np.all(shown[0] == x, axis=(1, 2, 3))
    mirrored = np.all(shown[0] == x[:, :, ::-1], axis=(1, 2, 3))
    assert np.all(same | mirrored) and 0.35 < mirrored.mean() < 0.65


def test_compare_uses_settings_chosen_on_validation(tmp_path):
    from nengo_mif.cli import main

    common = ["compare", "--neurons", "lif", "--max-train", "300", "--epochs", "1"]
    common += ["--validation", "100", "--n-test", "50", "--n-steps", "6"]
    assert main([*common, "--out-dir", str(tmp_path / "a")]) == 0
    settings = Run.open(tmp_path / "a" / "lif").state["settings"]
    grid = len(TUNE_SYNAPSES) * len(default_scales("lif"))  # the default grid
    assert settings["source"].startswith("validation") and len(settings["sweep"]) == grid
    row = json.loads((tmp_path / "a" / "compare.json").read_text())["rows"][0]["spiking"]
    assert (row["synapse"], row["scale_firing_rates"]) == (
        settings["synapse"],
        settings["scale_firing_rates"],
    )
    # a setting given on the command line is used, and not swept
    assert main([*common, "--synapse", "0.004", "--out-dir", str(tmp_path / "b")]) == 0
    settings = Run.open(tmp_path / "b" / "lif").state["settings"]
    assert {s["synapse"] for s in settings["sweep"]} == {0.004}
    row = json.loads((tmp_path / "b" / "compare.json").read_text())["rows"][0]["spiking"]
    assert row["synapse"] == 0.004


def test_training_readouts_score_earlier_steps(images):
    """--train-readouts: the loss is the mean cross-entropy at those steps and the last."""
    cfg = TrainConfig(
        neuron="lif", epochs=0, spike_aware_epochs=1, n_steps=6, train_readouts=(2, 4)
    )
    kind, scale = spiking_counterpart(cfg.neuron, cfg.scale_firing_rates)
    fit = SpikeAwareFit(small_net(), kind, cfg, scale)
    logits = fit.model(images).numpy()
    assert logits.shape == (8, 3, 5)
    out = fit.net.model(np.repeat(images[:, None], 6, axis=1))[0].numpy()
    np.testing.assert_allclose(logits, out[:, [1, 3, 5]], rtol=1e-5, atol=1e-6)
    y = np.arange(8) % 5
    ce = tf.keras.losses.sparse_categorical_crossentropy
    loss = fit.model.compiled_loss(tf.constant(y), tf.constant(logits)).numpy()
    expected = np.mean([ce(y, logits[:, i], from_logits=True).numpy().mean() for i in range(3)])
    np.testing.assert_allclose(loss, expected, rtol=1e-5)


def test_smoothing_check_warns_when_the_exact_curve_does_worse(tiny_model, tmp_path, monkeypatch):
    from nengo_mif.networks import smoothing

    cfg = TrainConfig(neuron="lif", epochs=1, validation=100, **SMALL)
    check = train(cfg, tmp_path / "a", verbose=False)["smoothing_check"]
    assert check["epoch"] == 1 and check["n_images"] == 100
    assert 0 <= check["exact"] <= 1 and 0 <= check["smoothed"] <= 1
    assert Run.open(tmp_path / "a").state["smoothing_check"] == check
    monkeypatch.setattr(smoothing, "SMOOTHING_GAP", -1.0)  # any result is a gap
    with pytest.warns(UserWarning, match="exact curve the spiking neurons follow"):
        train(replace(cfg, epochs=2), tmp_path / "a", resume=True, verbose=False)
    no_val = train(replace(cfg, validation=0), tmp_path / "b", verbose=False)
    assert "smoothing_check" not in no_val
