"""The package's shared defaults, in one place: ``from nengo_mif.defaults import default``.

As ``keras_spiking.config.default``: a setting that several configs, engines or
functions take (the time step, the synapse, the steps per image, ...) reads its
default from `default` instead of repeating the number, so changing it here changes
it everywhere. Frozen: a default is changed by editing this file, never at run time
(a run's stored settings would otherwise depend on what ran before). Imports nothing.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Defaults:
    """The defaults shared by the settings (`nengo_mif.networks.config`,
    `nengo_mif.deploy.config`) and the engines."""

    #: simulation time step in seconds
    dt: float = 0.001
    #: Lowpass time constant in seconds on every connection of a spiking network
    synapse: float = 0.005
    #: time steps each image is presented for
    n_steps: int = 30
    #: images per minibatch, in training and in evaluation
    batch_size: int = 50
    #: ceiling in Hz of a LIF fitted for Loihi (below 1 / dt: one spike per step)
    max_rate: float = 250.0
    #: random seed (weights, shuffling, the neurons' initial states)
    seed: int = 0
    #: factor on the inputs of every neuron (and 1 / it on their outputs)
    scale_firing_rates: float = 1.0
    #: the output is read averaged over this many last steps
    readout_steps: int = 1
    #: how an image enters a spiking network (`nengo_mif.names.ENCODINGS`)
    encoding: str = "analog"
    #: the engine that runs a network (`nengo_mif.engines.ENGINES`)
    engine: str = "keras"


#: the defaults; read them as ``default.dt``
default = Defaults()
