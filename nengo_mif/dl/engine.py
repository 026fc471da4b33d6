"""The NengoDL engine: the converted Nengo network, the bridge to Nengo, the GUI and Loihi."""

from __future__ import annotations

import nengo
import numpy as np

from nengo_mif.dl.conversion import convert, predict_batches
from nengo_mif.dl.fit import RateFit
from nengo_mif.engines import (
    Engine,
    Simulation,
    Synapses,
    TrainSettings,
    amplitude_of,
    register_engine,
)


@register_engine
class NengoDLEngine(Engine):
    """Runs the network that `nengo_dl.Converter` builds, in ``nengo_dl.Simulator``."""

    name = "nengo-dl"

    def fit_rate(self, model, neuron, settings: TrainSettings, scale=1.0, gain_factor=1.0):
        return RateFit(model, neuron, settings, scale, gain_factor)

    def simulate(
        self,
        model,
        neuron: nengo.neurons.NeuronType,
        x: np.ndarray,
        *,
        n_steps: int,
        dt: float,
        batch_size: int,
        rate: bool,
        synapse: Synapses,
        scale: float,
        seed: int,
        encoding: str,
        progress: bool = False,
    ) -> Simulation:
        scale = None if rate else scale
        conv = convert(
            model,
            neuron,
            synapse=None if rate else synapse,
            scale_firing_rates=scale,
            probe_layers="sum",
            seed=seed,
        )
        amplitude = amplitude_of(neuron, scale or 1.0)
        outputs, activity = [], dict.fromkeys(conv.layer_probes, 0.0)
        for out in predict_batches(
            conv, x, n_steps, dt, batch_size, seed=seed, rate=rate, progress=progress
        ):
            outputs.append(out[conv.output])
            for name, probe in conv.layer_probes.items():
                activity[name] += float(out[probe].sum() * dt / amplitude)
        return Simulation(np.concatenate(outputs), activity)
