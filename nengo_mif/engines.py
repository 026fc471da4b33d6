"""The engine interface: what every engine does, and the registry that finds one by name.

An engine runs a Keras model with its ReLUs swapped for a neuron type: it fits the
rate network, fits the spiking network through time where it can, and simulates
images. The jobs (`nengo_mif.networks`, `nengo_mif.deploy`) are written against this
interface and look engines up here, as NengoDL looks its builders up in
``TF_NEURON_IMPL``; an engine registers itself when its package is imported
(`nengo_mif.keras`, `nengo_mif.dl`), and `engine` imports the package on demand, so
naming an engine loads TensorFlow only then. Imports nothing heavy.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import nengo
import numpy as np

from nengo_mif.exceptions import ConfigError, EngineError

_ENGINES: dict[str, Engine] = {}


@dataclass(frozen=True)
class EngineSpec:
    """What an engine is and can do, known without importing it (TensorFlow)."""

    #: the module that registers it (`register_engine`)
    module: str
    #: it trains through time (`Engine.fit_through_time`)
    through_time: bool
    #: it runs the random and latency input encodings
    encodings: bool
    #: it trains batch norm and dropout in its own networks (else they are folded
    #: away before it sees the model, `nengo_mif.networks.models.fold_for_conversion`)
    batch_norm: bool


#: every engine, by the name settings give it
ENGINES: dict[str, EngineSpec] = {
    "keras": EngineSpec(
        "nengo_mif.keras.engine", through_time=True, encodings=True, batch_norm=True
    ),
    "nengo-dl": EngineSpec(
        "nengo_mif.dl.engine", through_time=False, encodings=False, batch_norm=False
    ),
}

Synapses = float | None | dict[str, float]


class TrainSettings(Protocol):
    """The training settings an engine reads (`nengo_mif.networks.TrainConfig` has them)."""

    learning_rate: float
    batch_size: int
    seed: int
    smoothing: float | None
    rate_reg: float
    target_rate: float
    n_steps: int
    synapse: Synapses
    encoding: str
    train_synapses: bool
    readout_steps: int
    train_readouts: tuple[int, ...] | None
    spike_reg: float
    surrogate: str
    surrogate_width: float
    attach_reset: bool
    train_constants: bool


class Fit(Protocol):
    """One training phase in progress: an epoch at a time, its weights, its optimiser."""

    def fit_epoch(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """Train one epoch on ``x, y``; returns the loss and the training accuracy."""

    def weights(self) -> dict[str, list[np.ndarray]]:
        """The weights in the Keras format, by the original model's layer names."""

    def synapses(self) -> dict[str, float]:
        """The trained synapse time constants by receiving layer (empty if fixed)."""

    def neuron_params(self) -> dict[str, dict[str, float]]:
        """The trained neuron constants by layer (empty if fixed)."""

    optimizer: Any
    trainable: list

    def close(self) -> None:
        """Free what the fit holds (a simulator)."""


@dataclass(frozen=True)
class Presentation:
    """How images are shown to a network (`Engine.simulate`)."""

    n_steps: int
    dt: float
    batch_size: int
    #: the rate network, one step (else the spiking one over ``n_steps``)
    rate: bool
    synapse: Synapses
    scale: float
    seed: int
    encoding: str
    progress: bool = False
    #: per neuron layer, parameters that differ from the type's (trained constants)
    layer_params: dict[str, dict[str, float]] | None = None


@dataclass
class Simulation:
    """What an engine returns for images shown over time."""

    output: np.ndarray  # (n, n_steps, n_classes)
    activity: dict[str, float]  # per neuron layer: spikes (or rate x seconds), all images


class Engine:
    """One way of running networks of neurons. Subclasses register with `register_engine`;
    what each can do is declared in `ENGINES`.
    """

    name: ClassVar[str]
    #: the engine's rate-training `Fit` class, made by `fit_rate`
    rate_fit: ClassVar[type]

    def fit_rate(
        self,
        model,
        neuron: nengo.neurons.NeuronType,
        settings: TrainSettings,
        scale: float = 1.0,
        gain_factor: float = 1.0,
    ) -> Fit:
        """Rate training: every ReLU of ``model`` is ``neuron``'s rate curve.

        Input currents are ``J_th + scale * gain_factor * z`` (a Loihi fit's gain).

        Returns
        -------
        fit : Fit
        """
        return self.rate_fit(model, neuron, settings, scale, gain_factor)

    def fit_through_time(
        self,
        model,
        neuron: nengo.neurons.NeuronType,
        settings: TrainSettings,
        scale: float,
        synapses: dict | None = None,
        method: str = "spike-aware",
        layer_params: dict | None = None,
    ) -> Fit:
        """Training through time with the spiking ``neuron``.

        ``method`` is how gradients flow back (`nengo_mif.names.THROUGH_TIME_METHODS`):
        ``"spike-aware"`` (straight-through) or ``"bptt"``. ``layer_params``: per
        layer, neuron parameters that differ from ``neuron``'s (trained constants).

        Returns
        -------
        fit : Fit
        """
        able = [name for name, spec in ENGINES.items() if spec.through_time]
        raise ConfigError(
            f"training through time runs on the {' or '.join(able)} engine, not {self.name}; "
            f"use --engine {able[0]}"
        )

    def simulate(
        self, model, neuron: nengo.neurons.NeuronType, x: np.ndarray, how: Presentation
    ) -> Simulation:
        """Images ``x`` shown as ``how`` says: the output at every step and the activity.

        Returns
        -------
        simulation : Simulation
        """
        raise NotImplementedError


def register_engine(cls: type[Engine]) -> type[Engine]:
    """Class decorator: make the engine findable by its ``name``.

    Returns
    -------
    cls : type
    """
    _ENGINES[cls.name] = cls()
    return cls


def engine(name: str) -> Engine:
    """The engine called ``name`` (its package imported on first use).

    Returns
    -------
    engine : Engine
    """
    if name not in ENGINES:
        raise ConfigError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")
    if name not in _ENGINES:
        importlib.import_module(ENGINES[name].module)
    return _ENGINES[name]


def synapse_for(synapse: Synapses, name: str) -> float | None:
    """The synapse time constant on the connection into layer ``name`` (``"probe"``: output).

    ``synapse`` is one time constant for every connection, ``None`` (no filtering),
    or a dict by layer name (what spike-aware training with trained synapses stores).

    Returns
    -------
    tau : float or None
    """
    if not isinstance(synapse, dict):
        return synapse
    if name not in synapse:
        raise EngineError(
            f"layer {name!r}: no synapse time constant among {sorted(synapse)}; "
            "the per-layer synapses belong to another model"
        )
    return synapse[name]


def amplitude_of(neuron: nengo.neurons.NeuronType, scale: float = 1.0) -> float:
    """The area of one spike, or the output per Hz, at firing-rate ``scale``.

    A converted network divides the neurons' amplitude by the scale, so the next
    layer sees the same input whatever the rates.

    Returns
    -------
    amplitude : float
    """
    return getattr(neuron, "amplitude", 1.0) / scale
