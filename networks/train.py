"""Training with per-epoch checkpoints and resume, on whichever engine is configured.

Every ReLU is swapped for the chosen neuron type's differentiable rate curve, so the
spiking network evaluated afterwards computes what was trained; then, optionally,
epochs through time on the spiking network (spike-aware) and against the neurons
Loihi runs. The engine (`nengo_mif.engines.engine`) does each phase's fitting; this
module runs the epochs, saves each one before the next starts (Keras-format weights
plus the optimiser's state) and resumes. Models with batch norm or dropout are first
trained in Keras and folded.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from nengo_mif.networks import checkpoint, memory
from nengo_mif.networks.config import THROUGH_TIME, TrainConfig
from nengo_mif.networks.data import Dataset, random_flip, random_shift
from nengo_mif.networks.models import (
    MODELS,
    build_model,
    fold_for_conversion,
    needs_folding,
    trained_model,
)
from nengo_mif.networks.resume import check_continues
from nengo_mif.networks.run import Run, keras_arrays, set_layer_weights, stored_layers
from nengo_mif.networks.smoothing import check_smoothing

from nengo_mif._quiet import import_tensorflow
from nengo_mif.engines import ENGINES, Fit, engine
from nengo_mif.exceptions import (
    ConfigError,
    RunExists,
    TrainingDiverged,
    TrainingInterrupted,
)
from nengo_mif.registry import neuron_type, spiking_counterpart

tf = import_tensorflow()
log = logging.getLogger(__name__)
OPT_PREFIX = "opt/"

__all__ = ["LoihiTarget", "TrainingInterrupted", "seed_everything", "train"]


class LoihiTarget(Protocol):
    """Where Loihi-aware training gets the neurons Loihi runs (`nengo_mif.deploy` has one).

    ``choose`` picks them for a network trained with the named type (fitted on
    some training images) and returns them with a JSON-ready description;
    ``restore`` rebuilds them from that description when a run resumes.
    The neurons have ``kind``, ``scale`` and ``gain_factor``.
    """

    def choose(self, model, trained: str, x: np.ndarray) -> tuple[Any, dict]: ...

    def restore(self, saved: dict) -> Any: ...


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and TensorFlow, so a fixed seed gives the same run."""
    tf.keras.utils.set_random_seed(seed)


def _optimizer_arrays(fit) -> dict[str, np.ndarray]:
    values = tf.keras.backend.batch_get_value(fit.optimizer.variables)
    return {f"{OPT_PREFIX}{i:03d}": v for i, v in enumerate(values)}


def _restore_optimizer(fit, arrays: dict[str, np.ndarray]) -> None:
    opt = fit.optimizer
    opt.build(fit.trainable)
    saved = sorted(k for k in arrays if k.startswith(OPT_PREFIX))
    if len(saved) == len(opt.variables) and all(
        tuple(v.shape) == arrays[k].shape for v, k in zip(opt.variables, saved)
    ):
        tf.keras.backend.batch_set_value([(v, arrays[k]) for v, k in zip(opt.variables, saved)])
    else:
        log.warning("optimizer state not restored (layout changed); continuing fresh")


def _keras_pretrain(config: TrainConfig, data: Dataset, run_dir: Path):
    model = build_model(config.model, data.input_shape, data.n_classes)
    weights = run_dir / "keras.weights.h5"
    done_file = run_dir / "keras_epochs.json"
    done = json.loads(done_file.read_text()) if done_file.exists() else 0
    if done and weights.exists():
        model.load_weights(weights)
    model.compile(
        tf.keras.optimizers.Adam(config.learning_rate),
        tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    for epoch in range(done, config.keras_epochs):
        model.fit(data.x_train, data.y_train, batch_size=config.batch_size, epochs=1, verbose=0)
        tmp = run_dir / ".keras.weights.tmp.h5"
        model.save_weights(tmp)
        tmp.replace(weights)
        checkpoint.atomic_write_json(done_file, epoch + 1)
        log.info("keras pre-training epoch %d/%d done", epoch + 1, config.keras_epochs)
    return _for_engine(model, config)


def _for_engine(model, config: TrainConfig):
    """``model`` as the engine trains it: folded unless it trains batch norm itself."""
    if ENGINES[config.engine].batch_norm or not needs_folding(model):
        return model
    return fold_for_conversion(model)


def train(
    config: TrainConfig,
    run_dir: str | Path,
    resume: bool = False,
    verbose: bool = True,
    loihi: LoihiTarget | None = None,
) -> dict:
    """Train ``config`` into ``run_dir``; with ``resume``, continue after the last epoch.

    Each finished epoch is on disk before the next starts; a fixed seed gives the
    same result. Ctrl-C raises `TrainingInterrupted`, naming the last saved epoch.

    Parameters
    ----------
    config : TrainConfig
        What to train, and how.
    run_dir : str or Path
        The run's folder (created if needed).
    resume : bool
        Continue the run in ``run_dir`` instead of refusing to touch it.
    verbose : bool
        Print a line per epoch.
    loihi : LoihiTarget or None
        The Loihi neurons to fine-tune against; needed for ``config.loihi_epochs``
        (``nengo_mif.deploy.training.LOIHI``).

    Returns
    -------
    state : dict
        The run's state: config, finished epochs, history (loss, accuracy, seconds).
    """
    run_dir = Path(run_dir)
    with checkpoint.owned(run_dir):
        return _train(config, run_dir, resume, verbose, loihi)


def _train(config: TrainConfig, run_dir: Path, resume: bool, verbose: bool, loihi) -> dict:
    state = checkpoint.load_state(run_dir)
    if state is not None and not resume:
        raise RunExists(
            f"{run_dir} already holds a training run ({state['epochs_done']} epochs); "
            "pass --resume to continue it or choose another --run-dir"
        )
    if state is not None:
        check_continues(run_dir, state, config.phases(), asdict(config))
    if config.model not in MODELS:
        raise ConfigError(f"unknown model {config.model!r}; choose one of {', '.join(MODELS)}")
    if config.loihi_epochs and loihi is None:
        raise ConfigError(
            "loihi_epochs needs the Loihi neurons to train against: pass "
            "loihi=nengo_mif.deploy.training.LOIHI to train() (the CLI does)"
        )
    seed_everything(config.seed)
    run = Run(run_dir, config, state or {})
    x_train, y_train = _training_set(config, run.data)

    model = (
        _keras_pretrain(config, run.data, run_dir)
        if config.keras_epochs
        else _for_engine(
            build_model(config.model, run.data.input_shape, run.data.n_classes), config
        )
    )
    state = state or dict(
        config=asdict(config),
        epochs_done=0,
        history=[],
        input_shape=list(run.data.input_shape),
        n_classes=run.data.n_classes,
        test_source=run.data.test_source,
    )
    state["config"] = asdict(config)  # a resumed run may ask for more epochs
    run.state = state
    arrays = run.arrays() if state["epochs_done"] else None
    if arrays is not None:
        # the layers the run trained (batch norms on the Keras engine, folded on NengoDL)
        shape, n_classes = run.data.input_shape, run.data.n_classes
        model = trained_model(config.model, shape, n_classes, stored_layers(arrays))
        set_layer_weights(model, arrays, source=str(run.params_path))

    phases = config.phases()
    fit = None
    try:
        for epoch in range(state["epochs_done"], len(phases)):
            phase = phases[epoch]
            if fit is None or fit.phase != phase:
                if fit is not None:  # the next phase starts from this one's weights
                    set_layer_weights(model, keras_arrays(fit.weights()))
                    fit.close()
                fit = _make_fit(phase, model, config, state, x_train, loihi)
                if arrays is not None and state["history"][-1].get("phase", "rate") == phase:
                    # a new phase starts with a fresh optimizer, resumed or not
                    _restore_optimizer(fit, arrays)
                arrays = None
            entry = _run_epoch(fit, config, epoch, x_train, y_train, state, run_dir)
            state["history"].append(entry)
            state["epochs_done"] = epoch + 1
            if phase in THROUGH_TIME:
                state["settings"] = _spike_aware_settings(config, fit)
                if fit.neuron_params():
                    state["neuron_params"] = fit.neuron_params()
            checkpoint.save_epoch(
                run_dir, state, {**keras_arrays(fit.weights()), **_optimizer_arrays(fit)}
            )
            if verbose:
                print(
                    f"epoch {epoch + 1}/{len(phases)}: loss {entry['loss']:.4f}, train "
                    f"accuracy {entry['train_accuracy']:.4f} ({phase}), "
                    f"{entry['seconds']:.1f} s",
                    flush=True,
                )
    finally:
        if fit is not None:
            fit.close()
    if state["history"] and state["history"][-1]["phase"] == "rate":
        check_smoothing(run_dir, config, state)
    return state


def _training_set(config: TrainConfig, data: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """The training images, cut to ``max_train`` and to whole batches."""
    x, y = data.x_train, data.y_train
    if config.max_train:
        x, y = x[: config.max_train], y[: config.max_train]
    n = (len(x) // config.batch_size) * config.batch_size
    if n == 0:
        raise ConfigError(
            f"batch_size ({config.batch_size}) is larger than the training "
            f"set ({len(x)} images); lower --batch-size"
        )
    if config.shift >= min(data.input_shape[:2]):
        raise ConfigError(
            f"shift ({config.shift}) must be smaller than the images "
            f"({data.input_shape[0]}x{data.input_shape[1]}); lower --shift"
        )
    return x[:n], y[:n]


def _run_epoch(
    fit: Fit, config: TrainConfig, epoch: int, x: np.ndarray, y: np.ndarray, state, run_dir
) -> dict:
    """One epoch (augmented with this epoch's shifts and flips); its history entry."""
    learning_rate = config.learning_rate_at(epoch)
    fit.optimizer.learning_rate.assign(learning_rate)
    memory.reset_peak()
    start = time.perf_counter()
    try:
        seed = config.seed * 100_003 + epoch
        x_epoch = random_shift(x, config.shift, seed=seed)
        if config.flip:
            x_epoch = random_flip(x_epoch, seed=seed + 50_000)
        loss, accuracy = fit.fit_epoch(x_epoch, y)
    except KeyboardInterrupt:
        done = state["epochs_done"]
        raise TrainingInterrupted(
            f"interrupted during epoch {epoch + 1}; "
            + (
                f"epoch {done} is safely in {run_dir}; continue with the same command plus --resume"
                if done
                else "no epoch was finished yet"
            )
        ) from None
    seconds = time.perf_counter() - start
    if not np.isfinite(loss):
        raise TrainingDiverged(
            f"the loss became {loss} in epoch {epoch + 1}; lower --learning-rate "
            f"(now {config.learning_rate:g}) or raise --smoothing"
        )
    return dict(
        epoch=epoch + 1,
        phase=fit.phase,
        seconds=seconds,
        loss=loss,
        train_accuracy=accuracy,
        learning_rate=learning_rate,
        peak_memory_mb=round(memory.peak_mb(), 1),
    )


def _make_fit(
    phase: str, model, config: TrainConfig, state: dict, x: np.ndarray, loihi: LoihiTarget | None
) -> Fit:
    """The fit for one training phase, starting from ``model``'s weights."""
    runner = engine(config.engine)
    if phase in THROUGH_TIME:
        if not ENGINES[config.engine].through_time:
            raise ConfigError(
                f"{phase} training does not run on the {config.engine} engine; use --engine keras"
            )
        synapses = state.get("settings", {}).get("synapse")
        kind, scale = spiking_counterpart(config.neuron, config.scale_firing_rates)
        fit = runner.fit_through_time(
            model,
            kind,
            config,
            scale,
            synapses if isinstance(synapses, dict) else None,
            method=phase,
            layer_params=state.get("neuron_params"),
        )
    elif phase == "loihi":
        neurons = _loihi_neurons(model, config, state, x, loihi)
        fit = runner.fit_rate(model, neurons.kind, config, neurons.scale, neurons.gain_factor)
    else:
        fit = runner.fit_rate(model, neuron_type(config.neuron), config)
    fit.phase = phase
    return fit


def _spike_aware_settings(config: TrainConfig, fit: Fit) -> dict:
    """The evaluation settings a run trained through time used (stored in the run)."""
    return dict(
        source=f"{fit.phase} training",
        n_steps=config.n_steps,
        synapse=fit.synapses() or config.synapse,
        scale_firing_rates=config.scale_firing_rates,
        readout_steps=config.readout_steps,
        encoding=config.encoding,
    )


def _loihi_neurons(model, config: TrainConfig, state: dict, x: np.ndarray, loihi: LoihiTarget):
    """The Loihi neurons to fine-tune against: chosen once, stored in the run for deploy."""
    if "loihi" in state:
        return loihi.restore(state["loihi"])
    neurons, saved = loihi.choose(model, config.neuron, x[:50])
    state["loihi"] = saved
    return neurons
