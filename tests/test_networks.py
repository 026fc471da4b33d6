"""Models, conversion, training with checkpoints, spiking evaluation, CLI."""

import json
from dataclasses import replace

import numpy as np
import pytest
import tensorflow as tf
from nengo_mif.networks import checkpoint
from nengo_mif.networks.config import LR_SCHEDULES, TrainConfig
from nengo_mif.networks.models import (
    MODELS,
    cifar_cnn,
    cifar_deep,
    fold_for_conversion,
    mnist_cnn,
)
from nengo_mif.networks.train import train

from nengo_mif.cli import main
from nengo_mif.exceptions import ConfigError


def test_reference_mnist_net_parameters():
    counts = [layer.count_params() for layer in mnist_cnn().layers if layer.count_params()]
    assert counts == [320, 18496, 73856, 32010]


@pytest.mark.parametrize("build", [cifar_cnn, cifar_deep])
def test_batch_norm_folding_preserves_function(build):
    tf.keras.utils.set_random_seed(0)
    model = build()
    for layer in model.layers:
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([gamma * 1.7, beta + 0.3, mean + 0.2, var * 2.5])
    folded = fold_for_conversion(model)
    assert not any(
        isinstance(layer, (tf.keras.layers.BatchNormalization, tf.keras.layers.Dropout))
        for layer in folded.layers
    )
    x = np.random.RandomState(0).rand(4, 32, 32, 3).astype("float32")
    np.testing.assert_allclose(
        folded(x).numpy(), model(x, training=False).numpy(), rtol=1e-4, atol=1e-5
    )


def test_train_config_validation():
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="unknown neuron type 'hh'"):
        TrainConfig(neuron="hh")


def test_checkpoint_is_atomic_and_single(tmp_path):
    for epoch in (1, 2):
        checkpoint.save_epoch(
            tmp_path,
            dict(config={}, epochs_done=epoch, history=[{}] * epoch),
            {"w": np.ones(3) * epoch},
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params-e002.npz", "state.json"]
    state, arrays = checkpoint.load_params(tmp_path)
    assert state["epochs_done"] == 2 and arrays["w"][0] == 2


def small(neuron="mif", epochs=1, **kw):
    return TrainConfig(neuron=neuron, epochs=epochs, max_train=400, batch_size=50, **kw)


def test_resume_and_determinism(tmp_path):
    first = train(small(epochs=1), tmp_path / "a", verbose=False)
    with pytest.raises(FileExistsError, match="--resume"):
        train(small(epochs=2), tmp_path / "a", verbose=False)
    with pytest.raises(ValueError, match="other settings.*seed: run has 0, asked for 1"):
        train(small(epochs=2, seed=1), tmp_path / "a", resume=True, verbose=False)
    resumed = train(small(epochs=2), tmp_path / "a", resume=True, verbose=False)
    assert resumed["history"][0] == first["history"][0] and resumed["epochs_done"] == 2

    again = train(small(epochs=1), tmp_path / "b", verbose=False)
    _, a = checkpoint.load_params(tmp_path / "a")
    _, b = checkpoint.load_params(tmp_path / "b")
    assert again["history"][0]["loss"] == first["history"][0]["loss"]
    assert sorted(a) == sorted(b)


def test_cosine_learning_rate_anneals_each_phase(tmp_path):
    cfg = small(epochs=4, spike_aware_epochs=2, spike_aware_learning_rate=1e-4)
    cosine = replace(cfg, lr_schedule="cosine")
    assert [cfg.learning_rate_at(e) for e in range(6)] == [1e-3] * 4 + [1e-4] * 2
    np.testing.assert_allclose(
        [cosine.learning_rate_at(e) for e in range(6)],
        [1e-3, 8.535534e-4, 5e-4, 1.464466e-4, 1e-4, 5e-5],
        rtol=1e-6,
    )
    with pytest.raises(ValueError, match="lr_schedule must be one of constant, cosine"):
        small(lr_schedule="step")
    # the optimizer steps with the scheduled rate: the same first epoch, then not
    runs = [
        train(small(epochs=2, lr_schedule=s), tmp_path / s, verbose=False) for s in LR_SCHEDULES
    ]
    (c0, c1), (k0, k1) = (r["history"] for r in runs)
    assert [h["learning_rate"] for h in (k0, k1)] == [1e-3, 5e-4]
    assert c0["loss"] == k0["loss"] and c1["loss"] != k1["loss"]


@pytest.mark.slow
def test_cli_train_evaluate_end_to_end(tmp_path, capsys):
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--neuron",
                "mif",
                "--run-dir",
                str(run),
                "--epochs",
                "2",
                "--max-train",
                "1500",
            ]
        )
        == 0
    )
    out = tmp_path / "report.json"
    assert (
        main(
            [
                "evaluate",
                "--run-dir",
                str(run),
                "--n-test",
                "200",
                "--n-steps",
                "20",
                "--synapse",
                "0.005",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    report = json.loads(out.read_text())
    for key in (
        "accuracy",
        "accuracy_per_step",
        "layers",
        "synops_per_image",
        "energy_per_inference_j",
        "confusion",
        "n_steps",
        "synapse",
        "scale_firing_rates",
        "test_source",
    ):
        assert key in report
    assert report["n_test"] == 200 and report["n_steps"] == 20
    assert len(report["accuracy_per_step"]) == 20
    assert report["accuracy"] > 0.6  # chance is 0.1
    assert report["accuracy_per_step"][-1] > report["accuracy_per_step"][0]
    conv0 = report["layers"]["conv0"]
    assert conv0["neurons"] == 26 * 26 * 32 and conv0["mean_rate_hz"] > 0
    assert conv0["spikes_per_image"] > 0
    assert set(report["energy_per_inference_j"]) == {"cpu", "gpu", "loihi"}
    assert np.sum(report["confusion"]) == 200
    assert "accuracy" in capsys.readouterr().out


def test_cli_errors_are_clear(tmp_path, capsys):
    assert main(["evaluate", "--run-dir", str(tmp_path / "none")]) == 2
    assert "nengo-mif train" in capsys.readouterr().err
    assert main(["evaluate", "--run-dir", str(tmp_path), "--n-steps", "0"]) == 2
    assert "n_steps" in capsys.readouterr().err


def test_cli_help_lists_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("demo", "train", "evaluate", "compare", "figures", "deploy"):
        assert command in out


def test_rate_regulariser_trains(tmp_path):
    """With the firing-rate regulariser on, every neuron layer gets a loss term."""
    from nengo_mif.networks.models import conversion_model

    from nengo_mif.keras.fit import RateFit
    from nengo_mif.registry import neuron_type

    cfg = small(rate_reg=0.01, target_rate=300.0)
    fit = RateFit(conversion_model("mnist_cnn", (28, 28, 1), 10), neuron_type(cfg.neuron), cfg)
    assert len(fit.rate.losses) == 3  # conv0..conv2
    # batch-norm nets have their ReLUs as separate Activation layers: those count too
    fit = RateFit(conversion_model("cifar_cnn", (32, 32, 3), 10), neuron_type(cfg.neuron), cfg)
    assert len(fit.rate.losses) == 3  # conv0_relu..conv2_relu
    state = train(cfg, tmp_path, verbose=False)
    assert np.isfinite(state["history"][0]["loss"])


def test_model_setting_follows_the_registry(tiny_model):
    """A registered model is a valid setting, an unknown one names the choices."""
    assert TrainConfig(model="tiny_cnn").model == "tiny_cnn"
    with pytest.raises(ConfigError, match="unknown model 'nope'; choose one of mnist_cnn"):
        TrainConfig(model="nope")
    assert set(MODELS) >= {"mnist_cnn", "mnist_cnn_wide", "cifar_cnn", "cifar_deep"}


def test_layer_report_counts_standalone_activation_neurons():
    """Batch-norm nets end a block in ``Activation("relu")``: its neurons are reported."""
    from nengo_mif.networks.evaluate import layer_report

    inp = tf.keras.Input((8, 8, 1))
    x = tf.keras.layers.Conv2D(4, 3, name="conv")(inp)
    x = tf.keras.layers.Activation("relu", name="conv_relu")(x)
    x = tf.keras.layers.Flatten()(x)
    out = tf.keras.layers.Dense(3, name="out")(x)
    model = tf.keras.Model(inp, out)
    n_images, n_steps, dt = 2, 10, 0.001
    report = layer_report(model, {"conv_relu": 288.0}, n_images, n_steps, dt, spiking=True)
    conv, dense = report["conv"], report["out"]
    assert conv["neurons"] == 6 * 6 * 4
    assert conv["spikes_per_image"] == 144.0
    np.testing.assert_allclose(conv["mean_rate_hz"], 144.0 / 144 / (n_steps * dt))
    # the dense layer receives the activation's spikes, each fanning out to 3 outputs
    assert dense["synops_per_image"] == 144.0 * 3
