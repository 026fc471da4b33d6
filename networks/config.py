"""The settings of training and evaluation: one dataclass each, each setting declared once.

A field is declared with `setting`: its default (the shared ones from
`nengo_mif.defaults.default`), its help, and the values it allows (bounds, whole
numbers, choices), as nengo's ``NumberParam(low=..., low_open=...)``. One routine,
`validate`, checks every field from that declaration on construction, so bad input
fails before any work starts with a message naming the setting and what it allows.
The command line (`nengo_mif.cli`) is generated from the same declarations and prints
the bounds in ``--help``. Only the checks that relate two settings are written out.
Imports neither TensorFlow nor NengoDL.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from nengo_mif.networks.data import DATASETS

from nengo_mif.defaults import default
from nengo_mif.engines import ENGINES
from nengo_mif.exceptions import ConfigError
from nengo_mif.names import ENCODINGS, SURROGATES
from nengo_mif.registry import REGISTRY, record
from nengo_mif.settings import setting, validate

__all__ = [
    "ENGINES",
    "LR_SCHEDULES",
    "RUN_SETTINGS",
    "THROUGH_TIME",
    "TUNE_SYNAPSES",
    "ConfigError",  # nengo_mif.exceptions', re-exported where it always was
    "EvalConfig",
    "TrainConfig",
    "for_run",
    "neuron_names",
    "readout_within_steps",
    "stored_setting",
    "synapse_label",
]

#: the training phases that run the spiking network through time
THROUGH_TIME = ("spike-aware", "bptt")
LR_SCHEDULES = ("constant", "cosine")
#: the synapses `tune` sweeps by default: short presentations need short ones (10 steps)
TUNE_SYNAPSES = (0.001, 0.002, 0.005, 0.01)
#: the evaluation settings a run can store (chosen on validation or by spike-aware
#: training) and their defaults where it stores none
RUN_SETTINGS = {
    name: getattr(default, name)
    for name in ("n_steps", "synapse", "scale_firing_rates", "readout_steps", "encoding")
}


def stored_setting(name: str, text: str, **allowed: Any) -> Any:
    """A `setting` for one of `RUN_SETTINGS`: ``None``, its default, takes the run's.

    Returns
    -------
    field : dataclasses.Field
    """
    stored = f"the run's stored setting, else {RUN_SETTINGS[name]}"
    return setting(None, text, default_help=stored, **allowed)


# the checks that relate two settings; each takes a config, raises ConfigError


def _known_model(name: str) -> None:
    # the registry holds the builders, which need TensorFlow: looked up only when a
    # config is made, so that importing the settings stays light
    from nengo_mif.networks.models import MODELS

    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")


def readout_within_steps(config: Any) -> None:
    """The readout window fits in the presentation: ``readout_steps <= n_steps``."""
    if None not in (config.readout_steps, config.n_steps) and config.readout_steps > config.n_steps:
        raise ConfigError(
            f"readout_steps ({config.readout_steps}) must be at most n_steps "
            f"({config.n_steps}); lower --readout-steps or raise --n-steps"
        )


def _some_epochs(config: TrainConfig) -> None:
    if config.epochs + config.spike_aware_epochs + config.bptt_epochs == 0:
        raise ConfigError(
            "epochs, spike_aware_epochs and bptt_epochs are all 0; ask for at least one epoch"
        )


def _through_time_on_its_engine(config: TrainConfig) -> None:
    if (config.spike_aware_epochs or config.bptt_epochs) and not ENGINES[
        config.engine
    ].through_time:
        able = [name for name, spec in ENGINES.items() if spec.through_time]
        raise ConfigError(
            f"training through time (spike-aware, BPTT) runs on the {' or '.join(able)} "
            f"engine, not {config.engine}; use --engine {able[0]}"
        )


def _synapse_to_train(config: TrainConfig) -> None:
    if config.train_synapses and config.synapse is None:
        raise ConfigError("train_synapses needs a synapse to train; set --synapse > 0")


def _constants_to_train(config: TrainConfig) -> None:
    if not config.train_constants:
        return
    from nengo_mif.registry import spiking_counterpart, trainable_constant

    if not config.bptt_epochs:
        raise ConfigError(
            "train_constants trains through the neurons' state: ask for --bptt-epochs"
        )
    kind, _ = spiking_counterpart(config.neuron)
    if trainable_constant(kind) is None:
        raise ConfigError(
            f"train_constants: {config.neuron} has no trainable neuron constant; "
            "use lif, mif or mif2"
        )


def _train_readouts_within_steps(config: TrainConfig) -> None:
    for step in config.train_readouts or ():
        if step > config.n_steps:
            raise ConfigError(
                f"train_readouts: step {step} is after the last step ({config.n_steps}); "
                "give steps up to --n-steps"
            )


def _max_train_holds_a_batch(config: TrainConfig) -> None:
    if config.max_train is not None and config.max_train < config.batch_size:
        raise ConfigError(
            f"max_train ({config.max_train}) must be at least batch_size "
            f"({config.batch_size}); raise --max-train or lower --batch-size"
        )


def _encoding_on_its_engine(config: EvalConfig) -> None:
    if not ENGINES[config.engine].encodings and config.encoding not in (None, "analog"):
        able = [name for name, spec in ENGINES.items() if spec.encodings]
        raise ConfigError(
            f"encoding {config.encoding!r} runs on the {' or '.join(able)} engine only; "
            f"use --engine {able[0]}"
        )


@dataclass
class TrainConfig:
    """How a network is trained (rate-based, on the neuron type's rate curve)."""

    dataset: str = setting("mnist-5k", "dataset", choices=DATASETS)
    data_dir: str | None = setting(
        None, "folder with the dataset's files (stored resolved; see README)"
    )
    model: str = setting(
        "mnist_cnn", "network (networks.models.MODELS; more can be registered)", check=_known_model
    )
    neuron: str = setting("mif", "neuron type every ReLU becomes", check=record)
    engine: str = setting(
        default.engine,
        "keras (fast, default) or nengo-dl (NengoDL's simulator)",
        choices=tuple(ENGINES),
    )
    epochs: int = setting(5, "training epochs", low=0, integer=True)
    keras_epochs: int = setting(
        0, "plain-Keras pre-training epochs (batch-norm models need some)", low=0, integer=True
    )
    loihi_epochs: int = setting(
        0,
        "epochs of fine-tuning, after the rate epochs, against the neurons Loihi runs "
        "(Loihi's LIF / spiking ReLU; MIF and MIF2 as their fitted Loihi LIF)",
        low=0,
        integer=True,
    )
    spike_aware_epochs: int = setting(
        0,
        "epochs of spike-aware training, after the rate epochs (or from scratch with "
        "--epochs 0): the spiking network over --n-steps steps forward, the rate "
        "curve's slope backward",
        low=0,
        integer=True,
    )
    bptt_epochs: int = setting(
        0,
        "epochs of backpropagation through time through every neuron's own state, "
        "with surrogate spike derivatives, after the rate and spike-aware epochs (or "
        "from scratch with --epochs 0)",
        low=0,
        integer=True,
    )
    surrogate: str = setting(
        "atan", "BPTT: the spike's surrogate derivative (as snnTorch's)", choices=SURROGATES
    )
    surrogate_width: float = setting(
        0.3,
        "BPTT: half width at half maximum of the surrogate, in threshold units "
        "(0.3 is snnTorch's atan default)",
        low=0,
        low_open=True,
    )
    attach_reset: bool = setting(
        False,
        "BPTT: the reset passes gradients too (detached by default: cheaper, and it "
        "trains as well; Zenke & Vogels 2021)",
    )
    train_constants: bool = setting(
        False,
        "BPTT also trains each layer's neuron constant within physical bounds: LIF's "
        "tau_rc (2-200 ms, as PLIF), MIF's and MIF2's capacitance (0.02-2 nF)",
    )
    n_steps: int = setting(default.n_steps, "time steps per image", low=1, integer=True)
    synapse: float | None = setting(
        default.synapse,
        "Lowpass time constant in seconds on every connection of the spiking "
        "network (0: no filtering)",
        low=0,
        low_open=True,
        zero_is_none=True,
    )
    train_synapses: bool = setting(
        False, "spike-aware training also trains each layer's synapse time constant"
    )
    scale_firing_rates: float = setting(
        default.scale_firing_rates, "firing-rate scale", low=0, low_open=True
    )
    readout_steps: int = setting(
        default.readout_steps,
        "read the output averaged over the last K steps (1: the last step)",
        low=1,
        integer=True,
    )
    train_readouts: tuple[int, ...] | None = setting(
        None,
        "spike-aware training also scores the output at these steps, e.g. 10 for a "
        "net that must answer early (the loss is the mean over them and the last step)",
        low=1,
        integer=True,
        items="steps",
    )
    spike_reg: float = setting(
        0.0,
        "spike-aware training: weight of the spike-count (energy) penalty, per Hz of "
        "mean firing rate (0: off)",
        low=0,
    )
    encoding: str = setting(
        default.encoding, "how the image enters the spiking network", choices=ENCODINGS
    )
    batch_size: int = setting(default.batch_size, "minibatch size", low=1, integer=True)
    learning_rate: float = setting(1e-3, "Adam learning rate", low=0, low_open=True)
    spike_aware_learning_rate: float | None = setting(
        None,
        "Adam learning rate of the spike-aware and BPTT epochs; fine-tuning a "
        "rate-trained net wants a lower one",
        default_help="--learning-rate",
        low=0,
        low_open=True,
    )
    lr_schedule: str = setting(
        "constant",
        "the learning rate over each phase's epochs: constant, or cosine (from the "
        "phase's rate down toward 0 at its last epoch)",
        choices=LR_SCHEDULES,
    )
    smoothing: float | None = setting(
        0.01,
        "rate-curve smoothing at threshold (NengoDL's lif_smoothing; 0: none)",
        low=0,
        low_open=True,
        zero_is_none=True,
    )
    rate_reg: float = setting(0.0, "weight of the firing-rate regulariser (0: off)", low=0)
    target_rate: float = setting(250.0, "Hz, for the regulariser", low=0, low_open=True)
    shift: int = setting(
        0,
        "data augmentation: move each training image by a random whole number of "
        "pixels, at most N each way, anew every epoch (0: off)",
        low=0,
        integer=True,
    )
    flip: bool = setting(
        False,
        "data augmentation: mirror half of the training images left to right, anew "
        "every epoch (clothes and objects, not digits)",
    )
    max_train: int | None = setting(
        None, "train on only the first N training images", low=1, integer=True
    )
    validation: int = setting(
        0,
        "hold out the last N training images for choosing settings (never trained on)",
        low=0,
        integer=True,
    )
    seed: int = setting(default.seed, "random seed (weights, shuffling)", low=0, integer=True)

    def __post_init__(self) -> None:
        validate(
            self,
            _some_epochs,
            _through_time_on_its_engine,
            _synapse_to_train,
            _constants_to_train,
            readout_within_steps,
            _train_readouts_within_steps,
            _max_train_holds_a_batch,
        )

    def phases(self) -> list[str]:
        """The training phase of every epoch, in order: rate, spike-aware, BPTT, Loihi.

        Returns
        -------
        phases : list of str
        """
        return (
            ["rate"] * self.epochs
            + ["spike-aware"] * self.spike_aware_epochs
            + ["bptt"] * self.bptt_epochs
            + ["loihi"] * self.loihi_epochs
        )

    def learning_rate_at(self, epoch: int) -> float:
        """The learning rate of (zero-based) ``epoch`` under ``lr_schedule``.

        Cosine: ``lr * (1 + cos(pi * i / n)) / 2`` for the ``i``-th of the phase's ``n``
        epochs, so every phase (rate, spike-aware, BPTT, Loihi) anneals from its own rate.

        Returns
        -------
        learning_rate : float
        """
        phases = self.phases()
        phase = phases[epoch]
        base = (
            self.spike_aware_learning_rate or self.learning_rate
            if phase in THROUGH_TIME
            else self.learning_rate
        )
        if self.lr_schedule == "constant":
            return base
        first = phases.index(phase)
        return base * (1 + math.cos(math.pi * (epoch - first) / phases.count(phase))) / 2


@dataclass
class EvalConfig:
    """How a trained network is run: spiking over time (or rate, one step)."""

    n_steps: int | None = stored_setting("n_steps", "time steps per image", low=1, integer=True)
    synapse: float | None = stored_setting(
        "synapse",
        "Lowpass time constant in seconds on every connection (0: no filtering)",
        low=0,
        by_layer=True,
    )
    scale_firing_rates: float | None = stored_setting(
        "scale_firing_rates", "firing-rate scale", low=0, low_open=True
    )
    readout_steps: int | None = stored_setting(
        "readout_steps",
        "accuracy from the output averaged over the last K steps",
        low=1,
        integer=True,
    )
    encoding: str | None = stored_setting("encoding", "input encoding", choices=ENCODINGS)
    n_test: int | None = setting(
        1000,
        "number of test images",
        default_help="1000; the whole set if larger",
        low=1,
        integer=True,
        optional=True,
    )
    batch_size: int = setting(default.batch_size, "images per batch", low=1, integer=True)
    dt: float = setting(default.dt, "time step (s)", low=0, low_open=True, high=0.1)
    neuron: str | None = setting(
        None,
        "neuron type to run",
        default_help="the trained one's spiking counterpart",
        check=record,
    )
    mode: str = setting(
        "spiking",
        "spiking, or rate (the trained rate network, one step)",
        choices=("spiking", "rate"),
    )
    engine: str = setting(
        default.engine, "keras (fast, default) or nengo-dl", choices=tuple(ENGINES)
    )
    seed: int = setting(default.seed, "seed of the neurons' initial states", low=0, integer=True)

    def __post_init__(self) -> None:
        validate(self, readout_within_steps, _encoding_on_its_engine)


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
        name: settings.get(name, fallback)
        if getattr(config, name) is None
        else getattr(config, name)
        for name, fallback in RUN_SETTINGS.items()
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
