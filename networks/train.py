"""Rate-based training with per-epoch checkpoints and resume, on either engine.

Every ReLU is swapped for the chosen neuron type's differentiable rate curve, so the
spiking network evaluated afterwards computes what was trained. The ``keras``
engine fits `engine.rate_model` with Keras; the ``nengo-dl`` engine fits the
converted network with ``nengo_dl.Simulator.fit``. Both compute the same function
and write the same checkpoint (Keras-format weights plus the optimiser's state).
Models with batch norm or dropout are first trained in Keras and folded.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np
from nengo_mif.networks import checkpoint
from nengo_mif.networks.config import ConfigError, TrainConfig
from nengo_mif.networks.data import Dataset, random_flip, random_shift
from nengo_mif.networks.models import (
    MODELS,
    build_model,
    conversion_model,
    fold_for_conversion,
    needs_folding,
)
from nengo_mif.networks.run import Run, keras_arrays, layer_weights, set_layer_weights

from nengo_mif.layers import tf
from nengo_mif.registry import neuron_type, record

log = logging.getLogger(__name__)
OPT_PREFIX = "opt/"


class TrainingInterrupted(RuntimeError):
    """Training stopped by the user; the message says what is on disk and how to resume."""


def seed_everything(seed: int) -> None:
    tf.keras.utils.set_random_seed(seed)


class KerasFit:
    """The ``keras`` engine: the rate model in Keras.

    With ``loihi`` (`deploy.mapping.LoihiNeurons`), the neurons are those Loihi runs.
    """

    def __init__(self, model, config: TrainConfig, loihi=None):
        from nengo_mif.networks.engine import rate_model, rate_neuron_layers

        kind, scale = loihi.training_neuron() if loihi else (neuron_type(config.neuron), 1.0)
        self.loihi = loihi
        self.model = model
        self.rate = rate_model(model, kind, smoothing=config.smoothing, scale=scale)
        if config.rate_reg > 0:
            target = config.target_rate * getattr(kind, "amplitude", 1.0) / scale
            for layer in rate_neuron_layers(self.rate).values():
                self.rate.add_loss(
                    config.rate_reg * tf.reduce_mean(tf.square(layer.output - target))
                )
        self.rate.compile(
            tf.keras.optimizers.Adam(config.learning_rate),
            tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        self.batch_size = config.batch_size

    def fit_epoch(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        hist = self.rate.fit(x, y, batch_size=self.batch_size, epochs=1, verbose=0)
        return float(hist.history["loss"][-1]), float(hist.history["accuracy"][-1])

    def weights(self) -> dict[str, list[np.ndarray]]:
        return {name: self.rate.get_layer(name).get_weights() for name in layer_weights(self.model)}

    @property
    def optimizer(self):
        return self.rate.optimizer

    @property
    def trainable(self):
        return self.rate.trainable_weights


class SpikeAwareFit:
    """Spike-aware training (Keras engine): the spiking network over ``n_steps`` steps.

    Forward, the trained type's spiking counterpart runs step by step with its
    synapses, exactly as `evaluate` runs it; backward, each spike takes the slope of
    the (smoothed) rate curve at the present input (straight-through, as
    keras-spiking's ``spiking_aware_training``), and gradients flow through time
    through the synapse filters. The loss reads the filtered output averaged over the
    last ``readout_steps`` steps, at the last step and at each of ``train_readouts``
    (the mean of their cross-entropies: a net trained to answer early); the
    firing-rate regulariser pulls each neuron's mean rate toward ``target_rate`` and
    ``spike_reg`` charges every Hz of mean rate.
    ``synapses`` (per layer, from a resumed run) override ``config.synapse``.
    """

    def __init__(self, model, config: TrainConfig, synapses: dict | None = None):
        from nengo_mif.networks.engine import spiking_model

        rec = record(config.neuron)
        kind = neuron_type(rec.spiking)
        scale = config.scale_firing_rates * rec.spiking_scale
        self.net = spiking_model(
            model,
            kind,
            config.n_steps,
            synapse=synapses or config.synapse,
            scale=scale,
            seed=config.seed,
            encoding=config.encoding,
            smoothing=config.smoothing,
            train_synapses=config.train_synapses,
        )
        inner = self.net.model
        inp = tf.keras.Input(model.input_shape[1:], name="image")
        tiled = tf.keras.layers.Lambda(
            lambda x: tf.repeat(x[:, None], config.n_steps, axis=1), name="show_for_n_steps"
        )(inp)
        spikes = {
            name: inner.get_layer(f"{name}_neurons").output[0] for name in self.net.neuron_layers
        }
        probe = tf.keras.Model(inner.input, [inner.outputs[0], *spikes.values()])
        out, *layer_spikes = probe(tiled)
        ends = sorted({*(config.train_readouts or ()), config.n_steps})
        logits = tf.stack(
            [tf.reduce_mean(out[:, max(0, e - config.readout_steps) : e], axis=1) for e in ends],
            axis=1,
        )  # (batch, readouts, classes); the last is the step evaluation reads
        self.model = tf.keras.Model(inp, logits)
        amplitude = getattr(kind, "amplitude", 1.0) / scale
        for s in layer_spikes:
            rate = tf.reduce_mean(s, axis=1)  # per neuron, in output units (amplitude x Hz)
            if config.rate_reg > 0:
                target = config.target_rate * amplitude
                self.model.add_loss(config.rate_reg * tf.reduce_mean(tf.square(rate - target)))
            if config.spike_reg > 0:
                self.model.add_loss(config.spike_reg * tf.reduce_mean(rate) / amplitude)
        self.model.compile(
            tf.keras.optimizers.Adam(config.spike_aware_learning_rate or config.learning_rate),
            _loss_over_readouts,
            metrics=[_accuracy_at_last_readout],
        )
        self.batch_size = config.batch_size

    def fit_epoch(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        hist = self.model.fit(x, y, batch_size=self.batch_size, epochs=1, verbose=0)
        acc = hist.history["_accuracy_at_last_readout"][-1]
        return float(hist.history["loss"][-1]), float(acc)

    def weights(self) -> dict[str, list[np.ndarray]]:
        return self.net.keras_weights()

    def synapses(self) -> dict[str, float]:
        """The trained synapse time constants by layer (empty if they are fixed).

        Returns
        -------
        taus : dict of float
        """
        return self.net.synapses()

    @property
    def optimizer(self):
        return self.model.optimizer

    @property
    def trainable(self):
        return self.model.trainable_weights


def _loss_over_readouts(y, logits):
    y = tf.repeat(tf.reshape(y, (-1, 1)), tf.shape(logits)[1], axis=1)
    return tf.keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)


def _accuracy_at_last_readout(y, logits):
    return tf.keras.metrics.sparse_categorical_accuracy(tf.reshape(y, (-1,)), logits[:, -1])


class NengoDLFit:
    """The ``nengo-dl`` engine: the converted network in ``nengo_dl.Simulator.fit``."""

    def __init__(self, model, config: TrainConfig, loihi=None):
        import nengo_dl
        from nengo_mif.networks.conversion import convert

        kind = loihi.kind if loihi else neuron_type(config.neuron)
        scale = loihi.scale if loihi else 1.0
        self.loihi = loihi
        self.conv = convert(
            model,
            kind,
            smoothing=config.smoothing,
            scale_firing_rates=loihi.scale if loihi else None,
            gain_factor=loihi.gain_factor if loihi else 1.0,
            probe_layers="neurons" if config.rate_reg > 0 else None,
        )
        self.sim = nengo_dl.Simulator(
            self.conv.net, minibatch_size=config.batch_size, seed=config.seed, progress_bar=False
        )
        losses = {self.conv.output: tf.losses.SparseCategoricalCrossentropy(from_logits=True)}
        weights = {self.conv.output: 1.0}
        target = config.target_rate * getattr(kind, "amplitude", 1.0) / scale
        for probe in self.conv.layer_probes.values():
            losses[probe] = lambda _, y_pred: tf.reduce_mean(tf.square(y_pred - target), axis=-1)
            weights[probe] = config.rate_reg
        self.sim.compile(
            optimizer=tf.optimizers.Adam(config.learning_rate),
            loss=losses,
            loss_weights=weights,
            metrics={self.conv.output: "accuracy"},
        )

    def fit_epoch(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        from nengo_mif.networks.conversion import flat

        targets = {self.conv.output: y.reshape(len(y), 1, 1)}
        for probe in self.conv.layer_probes.values():
            targets[probe] = np.zeros((len(y), 1, 1), dtype="float32")
        hist = self.sim.fit({self.conv.input: flat(x)}, targets, epochs=1, verbose=0)
        acc = next(v for k, v in hist.history.items() if k.endswith("accuracy"))
        return float(hist.history["loss"][-1]), float(acc[-1])

    def weights(self) -> dict[str, list[np.ndarray]]:
        from nengo_mif.networks.conversion import keras_weights_from_sim

        return keras_weights_from_sim(self.sim, self.conv)

    @property
    def optimizer(self):
        return self.sim.keras_model.optimizer

    @property
    def trainable(self):
        return self.sim.keras_model.trainable_weights

    def close(self):
        self.sim.close()


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
    return fold_for_conversion(model) if needs_folding(model) else model


#: settings a resumed run may change: epoch counts and the training subset
RESUMABLE = ("epochs", "spike_aware_epochs", "loihi_epochs", "max_train")
#: settings only spike-aware training reads: free until its first epoch
SPIKE_AWARE = (
    "n_steps",
    "synapse",
    "train_synapses",
    "scale_firing_rates",
    "readout_steps",
    "spike_reg",
    "train_readouts",
    "encoding",
    "spike_aware_learning_rate",
)


def _differences(state: dict, wanted: dict) -> list[str]:
    saved = state["config"]
    wanted = json.loads(json.dumps(wanted))  # as saved: tuples are lists
    free = RESUMABLE
    if not any(h.get("phase") == "spike-aware" for h in state["history"]):
        free += SPIKE_AWARE
    return [
        f"{k}: run has {saved.get(k)!r}, asked for {wanted[k]!r}"
        for k in wanted
        if k not in free and saved.get(k, wanted[k]) != wanted[k]
    ]


def train(
    config: TrainConfig, run_dir: str | Path, resume: bool = False, verbose: bool = True
) -> dict:
    """Train ``config`` into ``run_dir``; with ``resume``, continue after the last epoch.

    Each finished epoch is on disk before the next starts; a fixed seed gives the
    same result. Ctrl-C raises `TrainingInterrupted`, naming the last saved epoch.

    Returns
    -------
    state : dict
        The run's state: config, finished epochs, history (loss, accuracy, seconds).
    """
    run_dir = Path(run_dir)
    state = checkpoint.load_state(run_dir)
    if state is not None and not resume:
        raise FileExistsError(
            f"{run_dir} already holds a training run ({state['epochs_done']} epochs); "
            "pass --resume to continue it or choose another --run-dir"
        )
    if state is not None:
        done = [h.get("phase", "rate") for h in state["history"]]
        wanted = config.phases()
        if wanted[: len(done)] != done:
            raise ConfigError(
                f"{run_dir} holds {_phase_summary(done)}; the settings ask for "
                f"{_phase_summary(wanted)}, which does not continue it (phases run in "
                "the order rate, spike-aware, Loihi; ask for at least the epochs done of "
                "each, and none of an earlier phase after a later one) - or train anew"
            )
        diff = _differences(state, asdict(config))
        if diff:
            raise ConfigError(
                f"{run_dir} was trained with other settings ("
                + "; ".join(diff)
                + "); resume with the same settings or "
                "choose another --run-dir"
            )
    if config.model not in MODELS:
        raise ConfigError(f"unknown model {config.model!r}; choose one of {', '.join(MODELS)}")
    checkpoint.check_writable(run_dir)
    seed_everything(config.seed)
    run = Run(run_dir, config, state or {})
    data = run.data
    if config.max_train:
        data.x_train, data.y_train = (
            data.x_train[: config.max_train],
            data.y_train[: config.max_train],
        )
    n = (len(data.x_train) // config.batch_size) * config.batch_size
    if n == 0:
        raise ConfigError(
            f"batch_size ({config.batch_size}) is larger than the training "
            f"set ({len(data.x_train)} images); lower --batch-size"
        )
    x_train, y_train = data.x_train[:n], data.y_train[:n]
    if config.shift >= min(data.input_shape[:2]):
        raise ConfigError(
            f"shift ({config.shift}) must be smaller than the images "
            f"({data.input_shape[0]}x{data.input_shape[1]}); lower --shift"
        )

    model = (
        _keras_pretrain(config, data, run_dir)
        if config.keras_epochs
        else conversion_model(config.model, data.input_shape, data.n_classes)
    )
    state = state or dict(
        config=asdict(config),
        epochs_done=0,
        history=[],
        input_shape=list(data.input_shape),
        n_classes=data.n_classes,
        test_source=data.test_source,
    )
    state["config"] = asdict(config)  # a resumed run may ask for more epochs
    run.state = state
    arrays = run.arrays() if state["epochs_done"] else None
    if arrays is not None:
        set_layer_weights(model, arrays, source=str(run.params_path))

    phases = config.phases()
    fit = None
    try:
        for epoch in range(state["epochs_done"], len(phases)):
            phase = phases[epoch]
            if fit is None or fit.phase != phase:
                if fit is not None:  # the next phase starts from this one's weights
                    set_layer_weights(model, keras_arrays(fit.weights()))
                    _close(fit)
                fit = _make_fit(phase, model, config, state, x_train)
                if arrays is not None and state["history"][-1].get("phase", "rate") == phase:
                    # a new phase starts with a fresh optimizer, resumed or not
                    _restore_optimizer(fit, arrays)
                arrays = None
            learning_rate = config.learning_rate_at(epoch)
            fit.optimizer.learning_rate.assign(learning_rate)
            start = time.perf_counter()
            try:
                seed = config.seed * 100_003 + epoch
                x_epoch = random_shift(x_train, config.shift, seed=seed)
                if config.flip:
                    x_epoch = random_flip(x_epoch, seed=seed + 50_000)
                loss, accuracy = fit.fit_epoch(x_epoch, y_train)
            except KeyboardInterrupt:
                done = state["epochs_done"]
                raise TrainingInterrupted(
                    f"interrupted during epoch {epoch + 1}; "
                    + (
                        f"epoch {done} is safely in {run_dir}; continue with the same "
                        "command plus --resume"
                        if done
                        else "no epoch was finished yet"
                    )
                ) from None
            except tf.errors.InvalidArgumentError as e:
                raise FloatingPointError(_first_line(e)) from None
            seconds = time.perf_counter() - start
            if not np.isfinite(loss):
                raise FloatingPointError(
                    f"the loss became {loss} in epoch {epoch + 1}; lower --learning-rate "
                    f"(now {config.learning_rate:g}) or raise --smoothing"
                )
            state["history"].append(
                dict(
                    epoch=epoch + 1,
                    phase=phase,
                    seconds=seconds,
                    loss=loss,
                    train_accuracy=accuracy,
                    learning_rate=learning_rate,
                )
            )
            state["epochs_done"] = epoch + 1
            if phase == "spike-aware":
                state["settings"] = _spike_aware_settings(config, fit)
            checkpoint.save_epoch(
                run_dir, state, {**keras_arrays(fit.weights()), **_optimizer_arrays(fit)}
            )
            if verbose:
                print(
                    f"epoch {epoch + 1}/{len(phases)}: loss {loss:.4f}, train accuracy "
                    f"{accuracy:.4f} ({phase}), {seconds:.1f} s",
                    flush=True,
                )
    finally:
        _close(fit)
    if state["history"] and state["history"][-1]["phase"] == "rate":
        _check_smoothing(run_dir, config, state)
    return state


#: how much worse the exact rate curve may do than the smoothed one before a warning
SMOOTHING_GAP = 0.02


def _check_smoothing(run_dir: Path, config: TrainConfig, state: dict, n: int = 1000) -> None:
    """Warn when the rate net needs the smoothing it trained with.

    Smoothing rounds the rate curve's corner at threshold so that it has a gradient;
    a net can learn to keep its neurons in that corner, where the exact curve (what
    the spiking neurons do) differs. Compared on up to ``n`` validation images and
    stored in the run's state as ``smoothing_check``.
    """
    done = state.get("smoothing_check", {}).get("epoch") == state["epochs_done"]
    if done or not (config.smoothing and config.validation):
        return
    from nengo_mif.networks.engine import rate_model
    from nengo_mif.networks.run import validation_data

    val = validation_data(config)
    x, y = val.x_test[:n], val.y_test[:n]
    model = Run.open(run_dir).keras_model(val)
    kind = neuron_type(config.neuron)
    acc = {
        name: float(
            (
                rate_model(model, kind, smoothing=smoothing)
                .predict(x, verbose=0, batch_size=250)
                .argmax(axis=-1)
                == y
            ).mean()
        )
        for name, smoothing in (("smoothed", config.smoothing), ("exact", None))
    }
    state["smoothing_check"] = dict(epoch=state["epochs_done"], n_images=len(x), **acc)
    checkpoint.atomic_write_json(run_dir / checkpoint.STATE, state)
    if acc["exact"] < acc["smoothed"] - SMOOTHING_GAP:
        msg = (
            f"{run_dir}: on {len(x)} validation images the rate net scores "
            f"{acc['smoothed']:.1%} with the smoothed rate curve it trained on but "
            f"{acc['exact']:.1%} with the exact curve the spiking neurons follow; lower "
            f"--smoothing (now {config.smoothing:g}) or fine-tune with --spike-aware-epochs"
        )
        log.warning(msg)
        warnings.warn(msg, stacklevel=2)


def _phase_summary(phases: list[str]) -> str:
    counts = {p: phases.count(p) for p in dict.fromkeys(phases)}
    return ", then ".join(f"{n} {p} epochs" for p, n in counts.items()) or "no epochs"


def _make_fit(phase: str, model, config: TrainConfig, state: dict, x: np.ndarray):
    """The fit for one training phase, starting from ``model``'s weights."""
    if phase == "spike-aware":
        if config.engine != "keras":
            raise ConfigError("spike-aware training runs on the keras engine; use --engine keras")
        synapses = state.get("settings", {}).get("synapse")
        fit = SpikeAwareFit(model, config, synapses if isinstance(synapses, dict) else None)
    else:
        loihi = _loihi_neurons(model, config, state, x) if phase == "loihi" else None
        fit = (KerasFit if config.engine == "keras" else NengoDLFit)(model, config, loihi)
    fit.phase = phase
    return fit


def _spike_aware_settings(config: TrainConfig, fit: SpikeAwareFit) -> dict:
    """The evaluation settings a spike-aware run was trained with (stored in the run)."""
    return dict(
        source="spike-aware training",
        synapse=fit.synapses() or config.synapse,
        scale_firing_rates=config.scale_firing_rates,
        readout_steps=config.readout_steps,
        encoding=config.encoding,
    )


def _close(fit) -> None:
    if hasattr(fit, "close"):
        fit.close()


def _loihi_neurons(model, config: TrainConfig, state: dict, x: np.ndarray):
    """The Loihi neurons to fine-tune against: chosen once, stored in the run for deploy."""
    from nengo_mif.deploy.config import DeployConfig
    from nengo_mif.deploy.mapping import LoihiNeurons, loihi_neurons

    if "loihi" in state:
        return LoihiNeurons.from_dict(state["loihi"]["neurons"])
    settings = DeployConfig().loihi_settings()
    neurons = loihi_neurons(model, config.neuron, x=x[:50], **settings)
    state["loihi"] = dict(settings=settings, neurons=neurons.as_dict())
    return neurons


def _first_line(error: Exception) -> str:
    """The line of a TensorFlow error that matters (it appends kilobytes of graph)."""
    message = getattr(error, "message", str(error))
    lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
    for ln in lines:
        if "NaN or inf" in ln or "non-finite" in ln:
            return ln.split("] ")[-1].strip("[] ")
    return lines[0] if lines else type(error).__name__
