"""The one registry of neuron types a network's ReLUs can be swapped for, by name.

Each record says everything the package needs to know about a type: how to make it
(with an amplitude that scales its firing rates in Hz to activations of order one,
so one set of training hyper-parameters suits them all), where it starts to fire,
which spiking type runs a network trained with it, and how it reaches Loihi.
Registration is by decorator, as keras-spiking's registries do. Importing this
module loads nengo core only.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import nengo
import numpy as np

from nengo_mif.exceptions import UnknownNeuronType
from nengo_mif.neurons import MIF, MIF2


@dataclass(frozen=True)
class NeuronRecord:
    """What the package knows about one named neuron type."""

    name: str
    factory: Callable[[], nengo.neurons.NeuronType]
    #: the spiking type that runs a network trained with this one (itself if spiking)
    spiking: str
    #: extra firing-rate scale for that spiking type: a spiking ReLU's rate in Hz
    #: equals its input, a few Hz, so it needs ~100x to say anything in tens of ms
    spiking_scale: float = 1.0
    #: "direct" (Loihi has the type), "fitted" (a fitted Loihi LIF stands in) or None
    loihi: str | None = None

    def neuron(self) -> nengo.neurons.NeuronType:
        """A fresh instance, with the network amplitude.

        Returns
        -------
        neuron : nengo.neurons.NeuronType
        """
        return self.factory()

    @property
    def rheobase(self) -> float:
        """Input current at which the type starts to fire (ReLU's kink is at 0)."""
        return threshold(self.neuron())


REGISTRY: dict[str, NeuronRecord] = {}


def register(
    name: str, spiking: str | None = None, spiking_scale: float = 1.0, loihi: str | None = None
) -> Callable:
    """Decorator: register ``factory`` under ``name``.

    Returns
    -------
    decorator : callable
        Registers the factory it is applied to and returns it unchanged.
    """

    def decorator(factory: Callable[[], nengo.neurons.NeuronType]):
        if name in REGISTRY:
            raise ValueError(f"neuron type {name!r} is registered already")
        REGISTRY[name] = NeuronRecord(name, factory, spiking or name, spiking_scale, loihi)
        return factory

    return decorator


def record(name: str) -> NeuronRecord:
    """The record of a registered type; a clear error naming the choices otherwise.

    Returns
    -------
    record : NeuronRecord
    """
    if name not in REGISTRY:
        raise UnknownNeuronType(
            f"unknown neuron type {name!r}; choose one of {', '.join(REGISTRY)}"
        )
    return REGISTRY[name]


def trained_types() -> list[str]:
    """The types a network is trained with: all but those that only run another's
    training (spiking ReLU runs ReLU-trained nets).

    Returns
    -------
    names : list of str
    """
    counterparts = {r.spiking for r in REGISTRY.values() if r.spiking != r.name}
    return [name for name in REGISTRY if name not in counterparts]


def loihi_types(mapping: str) -> tuple[type, ...]:
    """The neuron classes that reach Loihi ``"direct"``-ly or through a ``"fitted"`` LIF.

    Returns
    -------
    classes : tuple of type
    """
    return tuple(type(r.neuron()) for r in REGISTRY.values() if r.loihi == mapping)


def neuron_type(name: str) -> nengo.neurons.NeuronType:
    """A fresh instance of the named neuron type.

    Returns
    -------
    neuron : nengo.neurons.NeuronType
    """
    return record(name).neuron()


def threshold(neuron: nengo.neurons.NeuronType) -> float:
    """Input current at which ``neuron`` starts to fire (ReLU's kink is at 0).

    Returns
    -------
    j_th : float
    """
    if hasattr(neuron, "rheobase"):
        return neuron.rheobase()
    return 1.0 if isinstance(neuron, (nengo.LIF, nengo.LIFRate)) else 0.0


def initial_state(
    neuron: nengo.neurons.NeuronType, n_neurons: int, seed: int | None, dtype=np.float32
) -> dict[str, np.ndarray]:
    """The initial state of a layer of neurons, drawn by nengo's rule.

    Both engines take a layer's state from here (layer ``i`` with ``seed + i``), so
    they start equal and give the same spikes.

    Returns
    -------
    state : dict of np.ndarray
        Each state variable by name, shape ``(n_neurons,)``.
    """
    if not neuron.spiking:
        return {}
    state = neuron.make_state(n_neurons, np.random.RandomState(seed), dtype=dtype)
    return {name: np.asarray(state[name]) for name in neuron.state}


def spiking_counterpart(name: str, scale: float = 1.0) -> tuple[nengo.neurons.NeuronType, float]:
    """The spiking type that runs a net trained with ``name``, and its firing-rate scale.

    A rate type runs as its spiking counterpart at that counterpart's extra scale
    (spiking ReLU's rate in Hz is its input, so it needs ~100x to say anything).

    Returns
    -------
    neuron, scale : nengo.neurons.NeuronType, float
    """
    rec = record(name)
    return neuron_type(rec.spiking), scale * rec.spiking_scale


def with_amplitude(neuron: nengo.neurons.NeuronType, amplitude: float) -> nengo.neurons.NeuronType:
    """A copy of ``neuron`` whose output is scaled by ``amplitude`` instead.

    Returns
    -------
    neuron : nengo.neurons.NeuronType
    """
    neuron = copy.copy(neuron)
    # parameters are read-only once set; the copy is ours
    type(neuron).amplitude.data[neuron] = float(amplitude)
    return neuron


def with_initial_state(
    neuron: nengo.neurons.NeuronType, state: dict[str, np.ndarray]
) -> nengo.neurons.NeuronType:
    """A copy of ``neuron`` that starts from ``state`` (arrays by state name).

    Returns
    -------
    neuron : nengo.neurons.NeuronType
    """
    neuron = copy.copy(neuron)
    # initial_state is read-only once set; the copy is ours (as nengo_dl.Converter does)
    type(neuron).initial_state.data[neuron] = {k: np.asarray(v) for k, v in state.items()}
    return neuron


def with_params(neuron: nengo.neurons.NeuronType, params: dict | None) -> nengo.neurons.NeuronType:
    """A copy of ``neuron`` with some parameters changed (validated as nengo validates them).

    Returns
    -------
    neuron : nengo.neurons.NeuronType
    """
    if not params:
        return neuron
    neuron = copy.copy(neuron)
    for name, value in params.items():
        param = getattr(type(neuron), name)
        param.data.pop(neuron, None)  # read-only once set; the copy is ours
        setattr(neuron, name, float(value))
    return neuron


@dataclass(frozen=True)
class TrainableConstant:
    """A neuron constant that training through time may set per layer, within bounds."""

    #: the neuron type's parameter
    param: str
    #: physical bounds (the parameter's unit); training keeps it strictly inside
    low: float
    high: float
    #: where the bounds come from
    why: str


#: per neuron class (found by MRO): the constant ``train_constants`` trains per layer
TRAINABLE_CONSTANTS: dict[type, TrainableConstant] = {
    nengo.LIF: TrainableConstant(
        "tau_rc",
        0.002,
        0.2,
        "s; membrane time constants from fast interneurons to slow pyramidal cells "
        "(PLIF learns it in the same range)",
    ),
    MIF: TrainableConstant(
        "capacitance",
        0.02e-9,
        2e-9,
        "F; a decade either side of the 0.2 nF on-chip capacitor (R_off C from 0.2 to 20 ms)",
    ),
}
TRAINABLE_CONSTANTS[MIF2] = TRAINABLE_CONSTANTS[MIF]


def trainable_constant(neuron: nengo.neurons.NeuronType) -> TrainableConstant | None:
    """The constant training may set per layer for ``neuron``'s type (None: none).

    Returns
    -------
    constant : TrainableConstant or None
    """
    for cls in type(neuron).__mro__:
        if cls in TRAINABLE_CONSTANTS:
            return TRAINABLE_CONSTANTS[cls]
    return None


@register("relu", spiking="spiking-relu", spiking_scale=100.0)  # Loihi: as spiking-relu
def _relu():
    return nengo.RectifiedLinear()


@register("spiking-relu", loihi="direct")
def _spiking_relu():
    return nengo.SpikingRectifiedLinear()


@register("lif", loihi="direct")
def _lif():
    # fires at up to ~500 Hz (tau_ref 2 ms)
    return nengo.LIF(amplitude=0.01)


@register("mif", loihi="fitted")
def _mif():
    # kHz rates: tau_rc = R_off C = 2 ms and no dead time
    return MIF(amplitude=1e-3)


@register("mif2", loihi="fitted")
def _mif2():
    return MIF2(amplitude=2e-3)
