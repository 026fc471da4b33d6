"""The Keras engine: rate and spiking networks as Keras models, at Keras speed."""

from __future__ import annotations

import nengo
import numpy as np

from nengo_mif.engines import (
    Engine,
    Simulation,
    Synapses,
    TrainSettings,
    amplitude_of,
    register_engine,
)
from nengo_mif.exceptions import ConfigError
from nengo_mif.keras.convert import rate_outputs, spiking_model
from nengo_mif.keras.fit import RateFit, SpikeAwareFit
from nengo_mif.keras.surrogates import ThroughTime


@register_engine
class KerasEngine(Engine):
    """Runs what NengoDL runs, spike for spike, as Keras layers (`nengo_mif.keras`)."""

    name = "keras"

    def fit_rate(self, model, neuron, settings: TrainSettings, scale=1.0, gain_factor=1.0):
        return RateFit(model, neuron, settings, scale, gain_factor)

    def fit_through_time(
        self, model, neuron, settings: TrainSettings, scale, synapses=None, method="spike-aware"
    ):
        through_time = ThroughTime(
            method=method,
            surrogate=settings.surrogate,
            width=settings.surrogate_width,
            detach_reset=not settings.attach_reset,
        )
        return SpikeAwareFit(model, neuron, settings, scale, synapses, through_time)

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
        if rate:
            out, acts = rate_outputs(model, neuron, x, batch_size)
            amplitude = amplitude_of(neuron)
            activity = {name: float(a.sum() * dt / amplitude) for name, a in acts.items()}
            return Simulation(out[:, None], activity)
        if encoding != "analog" and (x.min() < 0 or x.max() > 1):
            raise ConfigError(
                f"encoding {encoding!r} needs pixel values in [0, 1]; these images span "
                f"[{x.min():g}, {x.max():g}] (rescale them, or use --encoding analog)"
            )
        net = spiking_model(
            model,
            neuron,
            n_steps,
            dt=dt,
            synapse=synapse,
            scale=scale,
            seed=seed,
            encoding=encoding,
        )
        out, counts = net.predict(x, n_steps, batch_size, progress)
        return Simulation(out, {name: float(c.sum()) for name, c in counts.items()})
