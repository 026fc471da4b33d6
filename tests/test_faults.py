"""Faults that must not lose work: two writers, non-finite weights, full disks, file modes;
and the public layers' own arguments."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys

import nengo
import numpy as np
import pytest
import tensorflow as tf
from nengo_mif.networks import checkpoint
from nengo_mif.networks.config import EvalConfig, TrainConfig
from nengo_mif.networks.evaluate import evaluate
from nengo_mif.networks.train import train

from nengo_mif.exceptions import (
    CheckpointError,
    ConfigError,
    EngineError,
    RunError,
    TrainingDiverged,
)
from nengo_mif.keras.activations import RateActivation, SpikingActivation
from nengo_mif.keras.synapses import Lowpass

SMALL = dict(model="tiny_cnn", max_train=100, batch_size=50, seed=1, neuron="lif")


def test_a_second_writer_is_refused_and_a_stale_lock_taken_over(tiny_model, tmp_path):
    cfg = TrainConfig(epochs=1, **SMALL)
    with checkpoint.owned(tmp_path):
        with pytest.raises(RunError, match=f"being written by process {os.getpid()}"):
            train(cfg, tmp_path, verbose=False)
    assert not (tmp_path / checkpoint.LOCK).exists()  # released
    # a lock left by a process that is gone (its pid no longer exists)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout  # fmt: skip
    import socket

    (tmp_path / checkpoint.LOCK).write_text(
        json.dumps(dict(pid=int(dead), host=socket.gethostname(), since=0))
    )
    state = train(cfg, tmp_path, verbose=False)
    assert state["epochs_done"] == 1 and not (tmp_path / checkpoint.LOCK).exists()


def test_non_finite_weights_are_never_saved_and_never_read(tiny_model, tmp_path):
    cfg = TrainConfig(epochs=1, **SMALL)
    state = train(cfg, tmp_path, verbose=False)
    good = tmp_path / state["params"]
    before = good.read_bytes()
    arrays = checkpoint.load_arrays(good)
    arrays["w/conv0/0"] = arrays["w/conv0/0"].copy()
    arrays["w/conv0/0"][0, 0, 0, 0] = np.nan
    with pytest.raises(TrainingDiverged, match=r"w/conv0/0: 1 of 72.*nothing was written"):
        checkpoint.save_epoch(tmp_path, dict(state, epochs_done=2), arrays)
    assert good.read_bytes() == before and sorted(p.name for p in tmp_path.glob("*.npz")) == [
        good.name
    ]
    # a checkpoint damaged on disk: every reader says so, rate evaluation included
    checkpoint.atomic_save_arrays(good, arrays)
    with pytest.raises(CheckpointError, match="non-finite values \\(w/conv0/0: 1 of 72\\)"):
        evaluate(tmp_path, EvalConfig(mode="rate", n_test=20), progress=False)
    with pytest.raises(CheckpointError, match="non-finite"):
        train(TrainConfig(epochs=2, **SMALL), tmp_path, resume=True, verbose=False)
    assert good.exists()


def test_a_full_disk_loses_no_epoch_and_says_what_was_saved(tiny_model, tmp_path, monkeypatch):
    cfg = TrainConfig(epochs=1, **SMALL)
    train(cfg, tmp_path, verbose=False)
    real = checkpoint.atomic_write_json

    def full(path, obj):
        if path.name == checkpoint.STATE:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(path, obj)

    monkeypatch.setattr(checkpoint, "atomic_write_json", full)
    with pytest.raises(CheckpointError, match="could not save epoch 2 .*No space left.*epoch 1 is "
                       "intact.*--resume"):  # fmt: skip
        train(TrainConfig(epochs=2, **SMALL), tmp_path, resume=True, verbose=False)
    monkeypatch.setattr(checkpoint, "atomic_write_json", real)
    assert [p.name for p in tmp_path.glob("*.npz")] == ["params-e001.npz"]
    state = train(TrainConfig(epochs=2, **SMALL), tmp_path, resume=True, verbose=False)
    assert state["epochs_done"] == 2


def test_files_are_written_with_the_users_umask(tmp_path):
    old = os.umask(0o022)
    try:
        checkpoint.atomic_write_json(tmp_path / "a.json", {"x": 1})
        checkpoint.atomic_save_arrays(tmp_path / "a.npz", {"x": np.zeros(2)})
    finally:
        os.umask(old)
    for name in ("a.json", "a.npz"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644, name


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda: Lowpass(-0.01), ConfigError, "Lowpass tau must be > 0; got -0.01"),
        (lambda: Lowpass(0.01, dt=0), ConfigError, "Lowpass dt must be > 0; got 0"),
        (lambda: Lowpass(float("nan")), ConfigError, "Lowpass tau must be a finite number"),
        (lambda: Lowpass(0.01)(tf.zeros((2, 10))), EngineError, "runs over axis 1 of"),
        (lambda: SpikingActivation(nengo.LIF(), dt=-1e-3), ConfigError, "dt must be > 0"),
        (lambda: SpikingActivation(nengo.LIF(), scale=0), ConfigError, "scale must be > 0"),
        (lambda: SpikingActivation(nengo.LIF())(tf.zeros((2, 10))), EngineError, "time axis"),
        (lambda: RateActivation(nengo.AdaptiveLIFRate()), EngineError, "adds inc_n, tau_n"),
        (
            lambda: SpikingActivation(nengo.AdaptiveLIF())(tf.zeros((1, 3, 4))),
            EngineError,
            "AdaptiveLIF adds inc_n, tau_n, which it would ignore",
        ),
    ],
)
def test_the_layers_check_their_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_a_layer_round_trips_its_config():
    layer = SpikingActivation(nengo.SpikingRectifiedLinear(amplitude=0.5), dt=0.002)
    copy = SpikingActivation.from_config(layer.get_config())
    assert type(copy.neuron) is nengo.SpikingRectifiedLinear and copy.neuron.amplitude == 0.5
    assert copy.dt == 0.002


def test_labels_outside_the_classes_are_refused(tmp_path):
    """Labels 10 or 255 in IDX files would silently widen the output layer."""
    import gzip

    from nengo_mif.networks.data import load_dataset

    from nengo_mif.exceptions import DataError

    def idx(path, array, magic):
        header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
        with gzip.open(path, "wb") as f:
            f.write(header + array.astype(np.uint8).tobytes())

    images = np.zeros((20, 28, 28))
    labels = np.arange(20) % 10
    for prefix in ("train", "t10k"):
        idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", images, 2051)
        idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", labels, 2049)
    assert load_dataset("fashion-mnist", tmp_path).n_classes == 10
    labels[3] = 255
    idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels, 2049)
    with pytest.raises(DataError, match=r"fashion-mnist test set in .* has labels \[255\]"):
        load_dataset("fashion-mnist", tmp_path)


def test_a_presentation_too_large_for_memory_is_refused_before_the_work(
    tiny_model, tmp_path, monkeypatch
):
    from nengo_mif.networks import memory

    train(TrainConfig(epochs=1, **SMALL), tmp_path, verbose=False)
    monkeypatch.setattr(memory, "available_mb", lambda: 100.0)
    with pytest.raises(ConfigError, match=r"need about .* GB.*lower --batch-size"):
        evaluate(tmp_path, EvalConfig(n_steps=100_000, n_test=50), progress=False)
    # the estimate grows with the steps and the batch, not with the images beyond one batch
    model = tiny_model((28, 28, 1), 10)
    small = memory.presentation_mb(model, 10, 50, 50)
    assert memory.presentation_mb(model, 100, 50, 50) == pytest.approx(10 * small)
    assert memory.presentation_mb(model, 10, 10, 50) < small / 3


def test_results_that_cannot_mean_anything_are_flagged(tiny_model, tmp_path, capsys):
    from nengo_mif.networks.tune import tune

    from nengo_mif.cli import main

    train(TrainConfig(epochs=1, validation=50, **SMALL), tmp_path, verbose=False)
    fine = evaluate(tmp_path, EvalConfig(n_test=50), progress=False)
    assert not any("settle" in w or "saturated" in w for w in fine["warnings"])
    slow = evaluate(tmp_path, EvalConfig(n_test=50, synapse=10), progress=False)
    assert any("cannot settle: a 10000 ms synapse" in w for w in slow["warnings"])
    hot = evaluate(tmp_path, EvalConfig(n_test=50, scale_firing_rates=1e6), progress=False)
    assert any("saturated" in w for w in hot["warnings"]), hot["warnings"]
    cold = evaluate(tmp_path, EvalConfig(n_test=50, scale_firing_rates=1e-6), progress=False)
    assert any("never spiked" in w for w in cold["warnings"]), cold["warnings"]
    # settings tuned for earlier weights
    tune(tmp_path, synapses=[0.005], scales=[1.0], n_val=20)
    train(TrainConfig(epochs=2, validation=50, **SMALL), tmp_path, resume=True, verbose=False)
    assert main(["evaluate", "--run-dir", str(tmp_path), "--n-test", "20"]) == 0
    assert "chosen by tune after epoch 1; the weights have 2 epochs" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["deploy", "--run-dir"], ["export"]])
def test_deploy_and_export_errors_are_one_line_in_a_fresh_process(tmp_path, command):
    argv = [*command, str(tmp_path / "missing")] + (["out.nir"] if command == ["export"] else [])
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from nengo_mif.cli import main; sys.exit(main())"]
        + argv,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert "no state.json" in lines[0]


def test_long_work_reports_progress_as_plain_lines_off_a_terminal(capsys):
    from nengo_mif._quiet import progress_bar

    assert list(progress_bar(range(25), "spiking")) == list(range(25))
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "spiking: 2/25" and lines[-1] == "spiking: 25/25" and len(lines) == 13
    assert list(progress_bar(range(3), "quiet", show=False)) == [0, 1, 2]
    assert capsys.readouterr().err == ""
