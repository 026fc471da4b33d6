"""Bad input and faults: one clear line naming the setting or file, exit code 2, nothing lost.

Table-driven: each case is the command a user typed (or the call they made) and what
the error must say.
"""

import gzip
import json

import numpy as np
import pytest
from nengo.exceptions import ValidationError
from nengo_mif.networks import checkpoint
from nengo_mif.networks.config import EvalConfig, TrainConfig
from nengo_mif.networks.evaluate import evaluate
from nengo_mif.networks.train import TrainingInterrupted, train

from nengo_mif import MIF, MIF2
from nengo_mif.cli import main
from nengo_mif.keras.fit import RateFit

SMALL = ["--max-train", "200", "--epochs", "1"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("run") / "mif"
    assert main(["train", "--neuron", "mif", "--run-dir", str(path), *SMALL]) == 0
    return path


def cli_error(capsys, argv) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


EVAL_CASES = [
    (["--dt", "-0.001"], "dt must be > 0"),
    (["--dt", "0"], "dt must be > 0"),
    (["--dt", "nan"], "dt must be a finite number"),
    (["--n-test", "0"], "n_test must be >= 1"),
    (["--n-test", "-5"], "n_test must be >= 1"),
    (["--n-steps", "0"], "n_steps must be >= 1"),
    (["--synapse", "nan"], "synapse must be a finite number"),
    (["--synapse", "-0.1"], "synapse must be >= 0"),
    (["--scale-firing-rates", "nan"], "scale_firing_rates must be a finite number"),
    (["--scale-firing-rates", "0"], "scale_firing_rates must be > 0"),
    (["--batch-size", "0"], "batch_size must be >= 1"),
    (["--neuron", "hh"], "unknown neuron type 'hh'; choose one of"),
]


@pytest.mark.parametrize("args,message", EVAL_CASES, ids=[" ".join(a) for a, _ in EVAL_CASES])
def test_evaluate_rejects_bad_settings(run_dir, capsys, args, message):
    assert message in cli_error(capsys, ["evaluate", "--run-dir", str(run_dir), *args])


TRAIN_CASES = [
    (["--learning-rate", "nan"], "learning_rate must be a finite number"),
    (["--learning-rate", "0"], "learning_rate must be > 0"),
    (["--smoothing", "-0.01"], "smoothing must be > 0"),
    (["--smoothing", "inf"], "smoothing must be a finite number"),
    (["--max-train", "0"], "max_train must be >= 1"),
    (["--max-train", "-1"], "max_train must be >= 1"),
    (["--max-train", "10"], "max_train (10) must be at least batch_size (50)"),
    (["--epochs", "0"], "epochs, spike_aware_epochs and bptt_epochs are all 0"),
    (["--target-rate", "nan"], "target_rate must be a finite number"),
    (["--neuron", "foo"], "unknown neuron type 'foo'"),
    (["--data-dir", "/no/such/folder"], "holds no official MNIST test set"),
    (["--validation", "5000"], "validation (5000) must be smaller than the training set"),
]


@pytest.mark.parametrize("args,message", TRAIN_CASES, ids=[" ".join(a) for a, _ in TRAIN_CASES])
def test_train_rejects_bad_settings_before_any_work(tmp_path, capsys, args, message):
    run = tmp_path / "run"
    assert message in cli_error(capsys, ["train", "--run-dir", str(run), "--epochs", "1", *args])
    assert not (run / checkpoint.STATE).exists()


def test_compare_checks_every_neuron_name_first(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["compare", "--neurons", "mif", "foo", "--out-dir", str(tmp_path), *SMALL])
    assert e.value.code == 2 and "invalid choice: 'foo'" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_corrupt_checkpoint_names_the_file(tmp_path, run_dir, capsys):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(run_dir, broken)
    params = next(broken.glob("params-e*.npz"))
    params.write_bytes(params.read_bytes()[:100])
    line = cli_error(capsys, ["evaluate", "--run-dir", str(broken)])
    assert params.name in line and "unreadable or truncated" in line
    (broken / "state.json").write_text('{"config": {"neu')
    line = cli_error(capsys, ["evaluate", "--run-dir", str(broken)])
    assert "state.json is unreadable or truncated" in line


def _copy_with_state(run_dir, tmp_path):
    """A copy of the run to damage, and its state."""
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(run_dir, broken)
    return broken, json.loads((broken / "state.json").read_text())


STATE_DAMAGE = [
    ({"epochs_done": "1"}, "'epochs_done' must be a whole number >= 0"),
    ({"epochs_done": True}, "'epochs_done' must be a whole number >= 0"),
    ({"settings": [1, 2]}, "'settings' must be an object of evaluation settings"),
    ({"history": []}, "'history' has 0 entries for 1 epochs done"),
    ({"history": None}, "'history' must be a list of one object per epoch"),
    ({"input_shape": [28, -28, 1]}, "'input_shape' must be a list of positive image"),
    ({"n_classes": 1}, "'n_classes' must be a whole number >= 2"),
    ({"params": 3}, "'params' must be the weights' file name"),
    ({"settings": {"synapse": "fast"}}, "stored 'settings' are not valid (synapse"),
    ({"settings": {"scale_firing_rates": -3}}, "stored 'settings' are not valid (scale_firing"),
    ({"settings": {"encoding": "morse"}}, "stored 'settings' are not valid (encoding"),
    ({"config": {"neuron": "hh"}}, "state.json: its config is not valid"),
    ({"n_classes": 7}, "the model was built from"),
    ({"input_shape": [20, 20, 1]}, "input_shape [20, 20, 1], n_classes 10): if that file"),
]


@pytest.mark.parametrize("change, message", STATE_DAMAGE, ids=[str(c) for c, _ in STATE_DAMAGE])
def test_a_damaged_state_names_the_file_and_the_field(tmp_path, run_dir, capsys, change, message):
    broken, state = _copy_with_state(run_dir, tmp_path)
    for key, value in change.items():
        state[key] = {**state[key], **value} if key == "config" else value
    (broken / "state.json").write_text(json.dumps(state))
    line = cli_error(capsys, ["evaluate", "--run-dir", str(broken)])
    assert "state.json" in line and message in line, line


def test_a_state_without_weights_is_not_called_missing(tmp_path, run_dir, capsys):
    broken, state = _copy_with_state(run_dir, tmp_path)
    del state["params"]
    (broken / "state.json").write_text(json.dumps(state))
    line = cli_error(capsys, ["evaluate", "--run-dir", str(broken)])
    assert "records 1 epochs but no weights file" in line


def test_missing_run_says_train_first(tmp_path, capsys):
    assert "nengo-mif train" in cli_error(capsys, ["evaluate", "--run-dir", str(tmp_path)])


@pytest.mark.parametrize("damage", ["truncated", "not gzip"])
def test_corrupt_data_files_name_the_file(tmp_path, capsys, damage):
    images = np.random.RandomState(0).randint(0, 256, (50, 28, 28)).astype(np.uint8)
    idx = bytes([0, 0, 8, 3]) + b"".join(n.to_bytes(4, "big") for n in images.shape)
    packed = gzip.compress(idx + images.tobytes())
    bad = packed[: len(packed) // 2] if damage == "truncated" else b"not gzip at all"
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(bad)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes(58)))
    line = cli_error(
        capsys, ["train", "--run-dir", str(tmp_path / "r"), "--data-dir", str(tmp_path), *SMALL]
    )
    assert "t10k-images-idx3-ubyte.gz is corrupt or truncated" in line


def test_resume_with_other_settings_names_them(run_dir, capsys):
    line = cli_error(
        capsys,
        [
            "train",
            "--neuron",
            "mif",
            "--run-dir",
            str(run_dir),
            "--resume",
            "--max-train",
            "200",
            "--epochs",
            "2",
            "--seed",
            "3",
            "--learning-rate",
            "0.01",
        ],
    )
    assert "seed: run has 0, asked for 3" in line
    assert "learning_rate: run has 0.001, asked for 0.01" in line


def test_unwritable_run_dir_fails_before_training(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    line = cli_error(capsys, ["train", "--run-dir", str(blocker / "run"), *SMALL])
    assert "cannot write to" in line


def test_report_path_is_checked_before_the_evaluation(run_dir, tmp_path, capsys):
    line = cli_error(capsys, ["evaluate", "--run-dir", str(run_dir), "--out", str(tmp_path)])
    assert "is a folder" in line


def test_ctrl_c_says_which_epoch_is_safe(tmp_path, monkeypatch, capsys):
    calls = []
    original = RateFit.fit_epoch

    def interrupted_second_epoch(self, x, y):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(self, x, y)

    monkeypatch.setattr(RateFit, "fit_epoch", interrupted_second_epoch)
    run = tmp_path / "run"
    line = cli_error(
        capsys, ["train", "--run-dir", str(run), "--max-train", "200", "--epochs", "3"]
    )
    assert "epoch 1 is safely in" in line and "--resume" in line
    assert json.loads((run / "state.json").read_text())["epochs_done"] == 1


def test_evaluation_is_reproducible(run_dir):
    config = EvalConfig(n_test=40, n_steps=8)
    a, b = (evaluate(run_dir, config, progress=False) for _ in range(2))
    assert a["accuracy_per_step"] == b["accuracy_per_step"]
    assert a["layers"] == b["layers"]


def test_synaptic_operations_do_not_assume_1ms(run_dir):
    reports = [
        evaluate(run_dir, EvalConfig(n_test=20, n_steps=10, dt=dt), progress=False)
        for dt in (0.001, 0.002)
    ]
    # the image arrives once per step, whatever the step's length
    assert reports[0]["layers"]["conv0"]["synops_per_image"] == pytest.approx(
        reports[1]["layers"]["conv0"]["synops_per_image"]
    )
    for r in reports:
        assert all(v > 0 for v in r["energy_per_inference_j"].values())
        assert all(v.get("mean_rate_hz", 1) >= 0 for v in r["layers"].values())


@pytest.mark.parametrize(
    "args,message",
    [
        (["--target", "loihi"], "needs Intel's NxSDK"),
        (["--block-shape", "0,4,4"], "block_shape sides must be whole numbers >= 1"),
        (["--max-rate", "2000"], "max_rate must be below 1/dt"),
        (["--n-test", "0"], "n_test must be >= 1"),
        (["--seed", "-1"], "seed must be >= 0"),
        (["--block-shape", "1,1,1"], "layer 'conv1' alone has 9216 blocks"),
        (["--block-shape", "4,4"], "block shape (4, 4) does not fit"),
    ],
)
def test_deploy_rejects_bad_settings_before_any_work(run_dir, capsys, monkeypatch, args, message):
    from nengo_mif.deploy import run as deploy_run

    def slow_step(*args, **kwargs):
        raise AssertionError("the MIF -> LIF fit ran before the settings were checked")

    monkeypatch.setattr(deploy_run, "loihi_neurons_for", slow_step)
    assert message in cli_error(capsys, ["deploy", "--run-dir", str(run_dir), *args])


def test_export_errors_name_the_problem(run_dir, tmp_path, capsys):
    line = cli_error(capsys, ["export", str(tmp_path / "none"), str(tmp_path / "net.nir")])
    assert "holds no finished training epoch" in line
    blocker = tmp_path / "file"
    blocker.write_text("")
    line = cli_error(capsys, ["export", str(run_dir), str(blocker / "net.nir")])
    assert "net.nir" in line or str(blocker) in line
    line = cli_error(capsys, ["export", str(run_dir), str(tmp_path / "n.nir"), "--max-rate", "2e3"])
    assert "max_rate must be below 1/dt" in line


@pytest.mark.parametrize(
    "make",
    [
        lambda: MIF(r_on=np.nan),
        lambda: MIF(capacitance=np.inf),
        lambda: MIF2(t_m2=np.nan),
        lambda: MIF(min_voltage=np.nan),
        lambda: MIF(min_voltage=0.5),
        lambda: MIF2(min_voltage=0.7),
        lambda: MIF().gain_bias(np.array([5.0]), np.array([0.0])),
        lambda: MIF2().gain_bias(np.array([13.0]), np.array([0.0])),
        lambda: MIF().gain_bias(np.array([np.nan]), np.array([0.0])),
        lambda: MIF2().gain_bias(np.array([100.0]), np.array([np.nan])),
    ],
)
def test_neuron_parameters_are_named(make):
    with pytest.raises(
        ValidationError,
        match=r"\.(r_on|capacitance|t_m2|min_voltage|"
        r"max_rates|intercepts):",
    ):
        make()


def test_api_configs_raise_on_construction():
    with pytest.raises(ValueError, match="dt must be > 0"):
        EvalConfig(dt=-0.001)
    with pytest.raises(ValueError, match="smoothing must be > 0"):
        TrainConfig(smoothing=-1.0)
    with pytest.raises(TrainingInterrupted.__mro__[1]):  # a RuntimeError, not a traceback
        raise TrainingInterrupted("x")


def test_interrupted_api_training_resumes_identically(tmp_path, monkeypatch):
    config = TrainConfig(neuron="mif", epochs=2, max_train=200)
    reference = train(config, tmp_path / "ref", verbose=False)
    original = RateFit.fit_epoch
    calls = []

    def once_interrupted(self, x, y):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(self, x, y)

    monkeypatch.setattr(RateFit, "fit_epoch", once_interrupted)
    with pytest.raises(TrainingInterrupted):
        train(config, tmp_path / "cut", verbose=False)
    monkeypatch.setattr(RateFit, "fit_epoch", original)
    resumed = train(config, tmp_path / "cut", resume=True, verbose=False)
    assert [h["loss"] for h in resumed["history"]] == pytest.approx(
        [h["loss"] for h in reference["history"]], rel=1e-5
    )
