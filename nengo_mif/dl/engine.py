"""The NengoDL engine: the converted Nengo network, the bridge to Nengo, the GUI and Loihi."""

from __future__ import annotations

import numpy as np

from nengo_mif.dl.conversion import convert, predict_batches
from nengo_mif.dl.fit import RateFit
from nengo_mif.engines import (
    Engine,
    Presentation,
    Simulation,
    amplitude_of,
    register_engine,
)


@register_engine
class NengoDLEngine(Engine):
    """Runs the network that `nengo_dl.Converter` builds, in ``nengo_dl.Simulator``."""

    name = "nengo-dl"
    rate_fit = RateFit

    def simulate(self, model, neuron, x, how: Presentation) -> Simulation:
        scale = None if how.rate else how.scale
        conv = convert(
            model,
            neuron,
            synapse=None if how.rate else how.synapse,
            scale_firing_rates=scale,
            probe_layers="sum",
            seed=how.seed,
            layer_params=how.layer_params,
        )
        amplitude = amplitude_of(neuron, scale or 1.0)
        outputs, activity = [], dict.fromkeys(conv.layer_probes, 0.0)
        batches = predict_batches(
            conv,
            x,
            how.n_steps,
            how.dt,
            how.batch_size,
            seed=how.seed,
            rate=how.rate,
            progress=how.progress,
        )
        for out in batches:
            outputs.append(out[conv.output])
            for name, probe in conv.layer_probes.items():
                activity[name] += float(out[probe].sum() * how.dt / amplitude)
        return Simulation(np.concatenate(outputs), activity)
