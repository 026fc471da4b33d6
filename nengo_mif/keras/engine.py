"""The Keras engine: rate and spiking networks as Keras models, at Keras speed."""

from __future__ import annotations

from nengo_mif.engines import (
    Engine,
    Presentation,
    Simulation,
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
    rate_fit = RateFit

    def fit_through_time(
        self,
        model,
        neuron,
        settings: TrainSettings,
        scale,
        synapses=None,
        method="spike-aware",
        layer_params=None,
    ):
        through_time = ThroughTime(
            method=method,
            surrogate=settings.surrogate,
            width=settings.surrogate_width,
            detach_reset=not settings.attach_reset,
        )
        return SpikeAwareFit(model, neuron, settings, scale, synapses, through_time, layer_params)

    def simulate(self, model, neuron, x, how: Presentation) -> Simulation:
        if how.rate:
            out, acts = rate_outputs(
                model, neuron, x, how.batch_size, layer_params=how.layer_params
            )
            amplitude = amplitude_of(neuron)
            activity = {name: float(a.sum() * how.dt / amplitude) for name, a in acts.items()}
            return Simulation(out[:, None], activity)
        if how.encoding != "analog" and (x.min() < 0 or x.max() > 1):
            raise ConfigError(
                f"encoding {how.encoding!r} needs pixel values in [0, 1]; these images span "
                f"[{x.min():g}, {x.max():g}] (rescale them, or use --encoding analog)"
            )
        net = spiking_model(
            model,
            neuron,
            how.n_steps,
            dt=how.dt,
            synapse=how.synapse,
            scale=how.scale,
            seed=how.seed,
            encoding=how.encoding,
            layer_params=how.layer_params,
        )
        out, counts = net.predict(x, how.n_steps, how.batch_size, how.progress)
        return Simulation(out, {name: float(c.sum()) for name, c in counts.items()})
