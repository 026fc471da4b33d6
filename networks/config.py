"""The settings of training and evaluation: one dataclass each, one place per default.

Each field's ``metadata`` carries its command-line help, and the CLI is generated from
these classes (`nengo_mif.cli`). Every value is checked on construction, so bad
input fails before any work starts, with a message naming the setting and the fix.
Imports neither TensorFlow nor NengoDL.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from nengo_mif.networks.data import DATASETS

from nengo_mif.encodings import ENCODINGS
from nengo_mif.registry import REGISTRY, record

ENGINES = ("keras", "nengo-dl")
LR_SCHEDULES = ("constant", "cosine")
#: the synapses `tune` sweeps by default: short presentations need short ones (10 steps)
TUNE_SYNAPSES = (0.001, 0.002, 0.005, 0.01)
#: the built-in models (`networks.models.MODELS`; more can be registered there)
MODEL_NAMES = ("mnist_cnn", "mnist_cnn_wide", "cifar_cnn", "cifar_deep")


class ConfigError(ValueError):
    """A setting is out of range; the message names it and says what is allowed."""


def _help(text: str, **extra) -> dict:
    return dict(help=text, **extra)


def _check_number(name: str, value, low=None, low_open=False, integer=False, optional=False):
    if value is None:
        if optional:
            return
        raise ConfigError(f"{name} is required")
    if integer and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{name} must be a whole number; got {value!r}")
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number; got {value!r}")
    if low is not None and (value <= low if low_open else value < low):
        raise ConfigError(f"{name} must be {'>' if low_open else '>='} {low:g}; got {value!r}")


def _check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(map(str, choices))}; got {value!r}")


@dataclass
class TrainConfig:
    """How a network is trained (rate-based, on the neuron type's rate curve)."""

    dataset: str = field(default="mnist-5k", metadata=_help("dataset", choices=DATASETS))
    data_dir: str | None = field(
        default=None,
        metadata=_help("folder with the dataset's files (stored resolved; see README)"),
    )
    model: str = field(default="mnist_cnn", metadata=_help("network", choices=MODEL_NAMES))
    neuron: str = field(default="mif", metadata=_help("neuron type every ReLU becomes"))
    engine: str = field(
        default="keras",
        metadata=_help("keras (fast, default) or nengo-dl (NengoDL's simulator)", choices=ENGINES),
    )
    epochs: int = field(default=5, metadata=_help("training epochs"))
    keras_epochs: int = field(
        default=0, metadata=_help("plain-Keras pre-training epochs (batch-norm models need some)")
    )
    loihi_epochs: int = field(
        default=0,
        metadata=_help(
            "epochs of fine-tuning, after the rate epochs, against the neurons Loihi runs "
            "(Loihi's LIF / spiking ReLU; MIF and MIF2 as their fitted Loihi LIF)"
        ),
    )
    spike_aware_epochs: int = field(
        default=0,
        metadata=_help(
            "epochs of spike-aware training, after the rate epochs (or from scratch with "
            "--epochs 0): the spiking network over --n-steps steps forward, the rate "
            "curve's slope backward"
        ),
    )
    n_steps: int = field(default=30, metadata=_help("time steps per image"))
    synapse: float | None = field(
        default=0.005,
        metadata=_help(
            "Lowpass time constant in seconds on every connection of the spiking "
            "network (0: no filtering)"
        ),
    )
    train_synapses: bool = field(
        default=False,
        metadata=_help("spike-aware training also trains each layer's synapse time constant"),
    )
    scale_firing_rates: float = field(default=1.0, metadata=_help("firing-rate scale"))
    readout_steps: int = field(
        default=1,
        metadata=_help("read the output averaged over the last K steps (1: the last step)"),
    )
    train_readouts: tuple[int, ...] | None = field(
        default=None,
        metadata=_help(
            "spike-aware training also scores the output at these steps, e.g. 10 for a "
            "net that must answer early (the loss is the mean over them and the last step)"
        ),
    )
    spike_reg: float = field(
        default=0.0,
        metadata=_help(
            "spike-aware training: weight of the spike-count (energy) penalty, per Hz of "
            "mean firing rate (0: off)"
        ),
    )
    encoding: str = field(
        default="analog",
        metadata=_help("how the image enters the spiking network", choices=ENCODINGS),
    )
    batch_size: int = field(default=50, metadata=_help("minibatch size"))
    learning_rate: float = field(default=1e-3, metadata=_help("Adam learning rate"))
    spike_aware_learning_rate: float | None = field(
        default=None,
        metadata=_help(
            "Adam learning rate of the spike-aware epochs (default: --learning-rate); "
            "fine-tuning a rate-trained net wants a lower one"
        ),
    )
    lr_schedule: str = field(
        default="constant",
        metadata=_help(
            "the learning rate over each phase's epochs: constant, or cosine (from the "
            "phase's rate down toward 0 at its last epoch)",
            choices=LR_SCHEDULES,
        ),
    )
    smoothing: float | None = field(
        default=0.01,
        metadata=_help("rate-curve smoothing at threshold (NengoDL's lif_smoothing; 0: none)"),
    )
    rate_reg: float = field(
        default=0.0, metadata=_help("weight of the firing-rate regulariser (0: off)")
    )
    target_rate: float = field(default=250.0, metadata=_help("Hz, for the regulariser"))
    shift: int = field(
        default=0,
        metadata=_help(
            "data augmentation: move each training image by a random whole number of "
            "pixels, at most N each way, anew every epoch (0: off)"
        ),
    )
    flip: bool = field(
        default=False,
        metadata=_help(
            "data augmentation: mirror half of the training images left to right, anew "
            "every epoch (clothes and objects, not digits)"
        ),
    )
    max_train: int | None = field(
        default=None, metadata=_help("train on only the first N training images")
    )
    validation: int = field(
        default=0,
        metadata=_help(
            "hold out the last N training images for choosing settings (never trained on)"
        ),
    )
    seed: int = field(default=0, metadata=_help("random seed (weights, shuffling)"))

    def __post_init__(self):
        _check_choice("dataset", self.dataset, DATASETS)
        _check_choice("engine", self.engine, ENGINES)
        record(self.neuron)  # a clear error naming the registered types
        _check_number("epochs", self.epochs, 0, integer=True)
        _check_number("keras_epochs", self.keras_epochs, 0, integer=True)
        _check_number("loihi_epochs", self.loihi_epochs, 0, integer=True)
        _check_number("spike_aware_epochs", self.spike_aware_epochs, 0, integer=True)
        if self.epochs + self.spike_aware_epochs == 0:
            raise ConfigError(
                "epochs and spike_aware_epochs are both 0; ask for at least one epoch of either"
            )
        if self.spike_aware_epochs and self.engine != "keras":
            raise ConfigError("spike-aware training runs on the keras engine; use --engine keras")
        _check_number("n_steps", self.n_steps, 1, integer=True)
        if self.synapse == 0:
            self.synapse = None
        _check_number("synapse", self.synapse, 0, low_open=True, optional=True)
        if self.train_synapses and self.synapse is None:
            raise ConfigError("train_synapses needs a synapse to train; set --synapse > 0")
        _check_number("scale_firing_rates", self.scale_firing_rates, 0, low_open=True)
        _check_readout(self.readout_steps, self.n_steps)
        if self.train_readouts is not None:
            self.train_readouts = tuple(self.train_readouts)
            for step in self.train_readouts:
                _check_number("train_readouts", step, 1, integer=True)
                if step > self.n_steps:
                    raise ConfigError(
                        f"train_readouts: step {step} is after the last step ({self.n_steps}); "
                        "give steps up to --n-steps"
                    )
        _check_number("spike_reg", self.spike_reg, 0)
        _check_choice("encoding", self.encoding, ENCODINGS)
        _check_number("batch_size", self.batch_size, 1, integer=True)
        _check_number("learning_rate", self.learning_rate, 0, low_open=True)
        _check_number(
            "spike_aware_learning_rate",
            self.spike_aware_learning_rate,
            0,
            low_open=True,
            optional=True,
        )
        _check_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        if self.smoothing == 0:
            self.smoothing = None
        _check_number("smoothing", self.smoothing, 0, low_open=True, optional=True)
        _check_number("rate_reg", self.rate_reg, 0)
        _check_number("target_rate", self.target_rate, 0, low_open=True)
        _check_number("shift", self.shift, 0, integer=True)
        _check_number("max_train", self.max_train, 1, integer=True, optional=True)
        if self.max_train is not None and self.max_train < self.batch_size:
            raise ConfigError(
                f"max_train ({self.max_train}) must be at least batch_size "
                f"({self.batch_size}); raise --max-train or lower --batch-size"
            )
        _check_number("validation", self.validation, 0, integer=True)
        _check_number("seed", self.seed, 0, integer=True)

    def phases(self) -> list[str]:
        """The training phase of every epoch, in order: rate, spike-aware, Loihi.

        Returns
        -------
        phases : list of str
        """
        return (
            ["rate"] * self.epochs
            + ["spike-aware"] * self.spike_aware_epochs
            + ["loihi"] * self.loihi_epochs
        )

    def learning_rate_at(self, epoch: int) -> float:
        """The learning rate of (zero-based) ``epoch`` under ``lr_schedule``.

        Cosine: ``lr * (1 + cos(pi * i / n)) / 2`` for the ``i``-th of the phase's ``n``
        epochs, so every phase (rate, spike-aware, Loihi) anneals from its own rate.

        Returns
        -------
        learning_rate : float
        """
        phases = self.phases()
        phase = phases[epoch]
        base = (
            self.spike_aware_learning_rate or self.learning_rate
            if phase == "spike-aware"
            else self.learning_rate
        )
        if self.lr_schedule == "constant":
            return base
        first = phases.index(phase)
        return base * (1 + math.cos(math.pi * (epoch - first) / phases.count(phase))) / 2


def _check_readout(readout_steps, n_steps) -> None:
    _check_number("readout_steps", readout_steps, 1, integer=True)
    if n_steps is not None and readout_steps > n_steps:
        raise ConfigError(
            f"readout_steps ({readout_steps}) must be at most n_steps ({n_steps}); "
            "lower --readout-steps"
        )


#: the evaluation settings a run can store (chosen on validation or by spike-aware
#: training) and their defaults where it stores none
RUN_SETTINGS = dict(synapse=0.005, scale_firing_rates=1.0, readout_steps=1, encoding="analog")


def stored_setting(name: str, text: str, **extra):
    """A field for one of `RUN_SETTINGS`: ``None`` takes the run's stored setting."""
    return field(
        default=None,
        metadata=_help(
            f"{text} (default: the run's stored setting, else {RUN_SETTINGS[name]})", **extra
        ),
    )


@dataclass
class EvalConfig:
    """How a trained network is run: spiking over time (or rate, one step)."""

    n_steps: int = field(default=30, metadata=_help("time steps per image"))
    synapse: float | None = stored_setting(
        "synapse", "Lowpass time constant in seconds on every connection (0: no filtering)"
    )
    scale_firing_rates: float | None = stored_setting("scale_firing_rates", "firing-rate scale")
    readout_steps: int | None = stored_setting(
        "readout_steps", "accuracy from the output averaged over the last K steps"
    )
    encoding: str | None = stored_setting("encoding", "input encoding", choices=ENCODINGS)
    n_test: int | None = field(
        default=1000,
        metadata=_help("number of test images (default: 1000; the whole set if larger)"),
    )
    batch_size: int = field(default=50, metadata=_help("images per batch"))
    dt: float = field(default=0.001, metadata=_help("time step (s)"))
    neuron: str | None = field(
        default=None,
        metadata=_help("neuron type to run (default: the trained one's spiking counterpart)"),
    )
    mode: str = field(
        default="spiking",
        metadata=_help(
            "spiking, or rate (the trained rate network, one step)", choices=("spiking", "rate")
        ),
    )
    engine: str = field(
        default="keras", metadata=_help("keras (fast, default) or nengo-dl", choices=ENGINES)
    )
    seed: int = field(default=0, metadata=_help("seed of the neurons' initial states"))

    def __post_init__(self):
        _check_number("n_steps", self.n_steps, 1, integer=True)
        if not isinstance(self.synapse, dict):
            _check_number("synapse", self.synapse, 0, optional=True)
        _check_number(
            "scale_firing_rates", self.scale_firing_rates, 0, low_open=True, optional=True
        )
        if self.readout_steps is not None:
            _check_readout(self.readout_steps, self.n_steps)
        if self.encoding is not None:
            _check_choice("encoding", self.encoding, ENCODINGS)
        _check_number("n_test", self.n_test, 1, integer=True, optional=True)
        _check_number("batch_size", self.batch_size, 1, integer=True)
        _check_number("dt", self.dt, 0, low_open=True)
        if self.dt > 0.1:
            raise ConfigError(f"dt must be at most 0.1 s; got {self.dt}")
        _check_choice("mode", self.mode, ("spiking", "rate"))
        _check_choice("engine", self.engine, ENGINES)
        _check_number("seed", self.seed, 0, integer=True)
        if self.neuron is not None:
            record(self.neuron)
        if self.engine == "nengo-dl" and self.encoding not in (None, "analog"):
            raise ConfigError(
                f"encoding {self.encoding!r} runs on the keras engine only; use --engine keras"
            )


def for_run(config, settings: dict):
    """``config`` (an `EvalConfig` or a `DeployConfig`) with every unset setting taken
    from a run's stored ``settings``, else `RUN_SETTINGS`' default.

    After this, ``synapse`` is a time constant, a dict of them by layer, or ``None``
    for no filtering (``0`` asked for none).

    Returns
    -------
    config : EvalConfig or DeployConfig
        A copy.
    """
    resolved = {
        name: settings.get(name, default)
        if getattr(config, name) is None
        else getattr(config, name)
        for name, default in RUN_SETTINGS.items()
        if hasattr(config, name)
    }
    if resolved.get("synapse") == 0:
        resolved["synapse"] = None
    return replace(config, **resolved)


def synapse_label(synapse) -> str:
    """A synapse setting in words: none, one Lowpass, or per-layer time constants.

    Returns
    -------
    label : str
    """
    if synapse is None:
        return "none"
    if isinstance(synapse, dict):
        return (
            "Lowpass per layer ("
            + ", ".join(f"{k} {1e3 * v:.2f} ms" for k, v in synapse.items())
            + ")"
        )
    return f"Lowpass({synapse:g} s)"


def neuron_names() -> tuple[str, ...]:
    """The registered neuron names, without importing TensorFlow.

    Returns
    -------
    names : tuple of str
    """
    return tuple(REGISTRY)
