"""The neuron types a network's ReLUs can be swapped for, by name.

Amplitudes scale each type's firing rates (Hz) to activations of order one, so one
set of training hyper-parameters suits them all: LIF fires at up to ~500 Hz
(``tau_ref`` = 2 ms), the memristive neurons at kHz (``tau_rc`` = 2 ms, no dead time).
"""

from __future__ import annotations

import nengo

from nengo_mif import MIF, MIF2

NEURON_TYPES = {
    "relu": lambda: nengo.RectifiedLinear(),
    "spiking-relu": lambda: nengo.SpikingRectifiedLinear(),
    "lif": lambda: nengo.LIF(amplitude=0.01),
    "mif": lambda: MIF(amplitude=1e-3),
    "mif2": lambda: MIF2(amplitude=2e-3),
}

#: the spiking type that runs a network trained with a rate type
SPIKING_COUNTERPART = {"relu": "spiking-relu"}
#: extra firing-rate scale for that counterpart: a spiking ReLU's rate in Hz equals
#: its input, a few Hz, so it needs ~100x to say anything in tens of milliseconds
COUNTERPART_SCALE = {"relu": 100.0}


def neuron_type(name: str) -> nengo.neurons.NeuronType:
    """A fresh instance of the named neuron type."""
    if name not in NEURON_TYPES:
        raise ValueError(f"unknown neuron type {name!r}; choose one of "
                         f"{', '.join(NEURON_TYPES)}")
    return NEURON_TYPES[name]()
