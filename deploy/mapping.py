"""Map neuron types that Loihi lacks (MIF, MIF2) onto Loihi's LIF.

Loihi's compartments implement a discretised LIF. A memristive neuron is mapped by
choosing that LIF's ``tau_rc``, ``tau_ref``, an input gain ``k`` and an output
amplitude so that, over the layer's operating range ``u in [0, u_max]`` (input above
threshold), the mapped neuron's output ``a_lif * r_loihi(1 + k u)`` matches the
source neuron's ``a_src * r_src(J_th + u)``. Loihi emits at most one spike per time
step, so the LIF is kept below ``max_rate``; the amplitude makes up the difference.
The fit error is part of every deployment report.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import nengo
import numpy as np
from nengo_loihi.neurons import LoihiLIF, LoihiSpikingRectifiedLinear, loihi_rates

from nengo_mif.defaults import default
from nengo_mif.registry import loihi_types, spiking_counterpart

#: types a fitted Loihi LIF stands in for, and types Loihi runs as they are (registry)
MAPPABLE = loihi_types("fitted")
DIRECT = loihi_types("direct")


@dataclass
class LIFMapping:
    source: str
    tau_rc: float
    tau_ref: float
    gain: float  # k: multiplies the input above threshold
    amplitude: float  # of the mapped LIF, before any scale_firing_rates
    u_max: float
    max_rate: float
    rms_error: float  # RMS output error relative to the source's largest output

    def neuron(self) -> LoihiLIF:
        """The fitted Loihi LIF as a nengo neuron type.

        Returns
        -------
        lif : nengo_loihi.neurons.LoihiLIF
        """
        return LoihiLIF(tau_rc=self.tau_rc, tau_ref=self.tau_ref, amplitude=self.amplitude)

    def as_dict(self) -> dict:
        """The mapping as JSON-ready values.

        Returns
        -------
        mapping : dict
        """
        return asdict(self)


@dataclass
class LoihiNeurons:
    """The neurons Loihi runs for a trained network, and how they are driven.

    ``kind`` is a Loihi type (`LoihiLIF`, `LoihiSpikingRectifiedLinear`); every neuron
    layer's input current is ``J = J_th + scale * gain_factor * z`` for the Keras
    pre-activation ``z``; ``mapping`` is the fit that chose a LIF for MIF/MIF2.
    """

    kind: nengo.neurons.NeuronType
    scale: float
    gain_factor: float = 1.0
    mapping: LIFMapping | None = None

    def as_dict(self) -> dict:
        """JSON-ready values (stored in a run fine-tuned for Loihi).

        Returns
        -------
        neurons : dict
        """
        return dict(
            type=type(self.kind).__name__,
            params=_loihi_params(self.kind),
            scale=self.scale,
            gain_factor=self.gain_factor,
            mapping=self.mapping.as_dict() if self.mapping else None,
        )

    @classmethod
    def from_dict(cls, d: dict) -> LoihiNeurons:
        """The inverse of `as_dict`.

        Returns
        -------
        neurons : LoihiNeurons
        """
        types = {"LoihiLIF": LoihiLIF, "LoihiSpikingRectifiedLinear": LoihiSpikingRectifiedLinear}
        mapping = LIFMapping(**d["mapping"]) if d.get("mapping") else None
        return cls(types[d["type"]](**d["params"]), d["scale"], d["gain_factor"], mapping)


def _loihi_params(kind) -> dict:
    """The parameters Loihi's types take (spiking ReLU: amplitude only)."""
    return {p: getattr(kind, p) for p in ("tau_rc", "tau_ref", "amplitude") if hasattr(kind, p)}


def loihi_version(kind: nengo.neurons.NeuronType) -> nengo.neurons.NeuronType:
    """Loihi's own type for a type it runs directly (LIF, spiking ReLU).

    Returns
    -------
    kind : LoihiLIF or LoihiSpikingRectifiedLinear
    """
    for nengo_type, loihi_type in (
        (nengo.LIF, LoihiLIF),
        (nengo.SpikingRectifiedLinear, LoihiSpikingRectifiedLinear),
    ):
        if isinstance(kind, nengo_type):
            return loihi_type(**_loihi_params(kind))
    raise TypeError(f"Loihi has no direct version of {type(kind).__name__}")


def starting_as_nengo(kind: nengo.neurons.NeuronType) -> nengo.neurons.NeuronType:
    """``kind`` (a Loihi type) drawing its initial voltages as nengo's LIF and spiking ReLU.

    Loihi's types start at zero voltage. NengoDL starts every image afresh, so from
    zero each neuron that fires less than once per presentation stays silent, while
    the chip, which cannot reset, starts each image from the voltages the last one
    left. Measured on a spiking-ReLU MNIST net: 14% in NengoDL from zero, 97% on the
    emulator. nengo's types, like the trained layers in both engines, start uniform
    in [0, 1) (in units of the threshold).

    Returns
    -------
    kind : LoihiLIF or LoihiSpikingRectifiedLinear
    """
    return type(kind)(**_loihi_params(kind), initial_state={"voltage": nengo.dists.Uniform(0, 1)})


def loihi_neurons(
    model, trained: str, dt: float, max_rate: float, scale: float, x: np.ndarray
) -> LoihiNeurons:
    """The neurons Loihi runs for a network trained with ``trained`` neurons.

    LIF and spiking ReLU run as Loihi's versions of themselves; MIF and MIF2 as a
    Loihi LIF fitted over the inputs their layers see on images ``x``.

    Returns
    -------
    neurons : LoihiNeurons
    """
    kind, scale = spiking_counterpart(trained, scale)
    if not isinstance(kind, MAPPABLE):
        return LoihiNeurons(loihi_version(kind), scale)
    outputs = _layer_outputs(model, kind, x, scale)
    mapping = fit_lif(kind, operating_range(kind, outputs), dt=dt, max_rate=max_rate)
    return LoihiNeurons(mapping.neuron(), scale, mapping.gain, mapping)


def _layer_outputs(model, kind, x: np.ndarray, scale: float) -> np.ndarray:
    """Outputs ``amplitude * r(J)`` of every neuron layer on some images (operating range)."""
    from nengo_mif.keras.convert import rate_outputs

    _, layers = rate_outputs(model, kind, x, scale=scale)
    # the layers emit amplitude / scale * r(J); the mapping fits amplitude * r(J)
    return scale * np.concatenate([np.ravel(a) for a in layers.values()])


def _loihi_lif_rate(tau_rc: float, tau_ref: float, J: np.ndarray, dt: float) -> np.ndarray:
    lif = nengo.LIF(tau_rc=tau_rc, tau_ref=tau_ref)
    return loihi_rates(lif, J, np.ones(1), np.zeros(1), dt).ravel()


def fit_lif(
    neuron: nengo.neurons.NeuronType,
    u_max: float,
    dt: float = default.dt,
    max_rate: float = default.max_rate,
    n: int = 200,
    min_gain: float = 1.0,
) -> LIFMapping:
    """Fit a Loihi LIF to ``neuron``'s output over inputs ``[0, u_max]`` above threshold.

    The LIF sees ``J = 1 + gain * u``. Fits with ``gain < min_gain`` are passed over
    when any other fits: squeezed into a narrow band above threshold, the LIF turns
    the chip's small errors in ``J`` (8-bit weights) into large errors in rate. MIF2's
    best fit (gain 0.15, ``tau_rc`` 2.4 ms) lost 2 points on the emulator.

    Returns
    -------
    mapping : LIFMapping
        The fitted LIF parameters and the rms fit error.
    """
    if not isinstance(neuron, MAPPABLE):
        raise TypeError(
            f"no Loihi mapping for {type(neuron).__name__}; "
            f"mappable types: {', '.join(t.__name__ for t in MAPPABLE)}"
        )
    if not u_max > 0:
        raise ValueError(f"u_max must be > 0; got {u_max}")
    if not 0 < max_rate < 1 / dt:
        raise ValueError(
            f"max_rate must lie in (0, {1 / dt:g}) Hz (Loihi emits at most "
            f"one spike per step of {dt:g} s); got {max_rate}"
        )
    u = np.linspace(0, u_max, n)
    target = neuron.rates(neuron.rheobase() + u, 1.0, 0.0).ravel()  # includes amplitude
    scale = max(target.max(), 1e-12)
    best = None
    for tau_rc in np.geomspace(2e-3, 0.2, 25):
        for tau_ref in dt * np.arange(0, 5):
            # k: the input gain at which the LIF reaches max_rate at u_max
            lo, hi = 1e-6, 1e6
            for _ in range(60):
                k = np.sqrt(lo * hi)
                if _loihi_lif_rate(tau_rc, tau_ref, np.array([1 + k * u_max]), dt)[0] > max_rate:
                    hi = k
                else:
                    lo = k
            rates = _loihi_lif_rate(tau_rc, tau_ref, 1 + k * u, dt)
            amp = float(rates @ target / max(rates @ rates, 1e-12))
            err = float(np.sqrt(np.mean((amp * rates - target) ** 2)) / scale)
            robust = k >= min_gain
            if best is None or (robust, -err) > (best.gain >= min_gain, -best.rms_error):
                best = LIFMapping(
                    type(neuron).__name__,
                    float(tau_rc),
                    float(tau_ref),
                    float(k),
                    amp,
                    float(u_max),
                    float(max_rate),
                    err,
                )
    return best


def operating_range(
    neuron: nengo.neurons.NeuronType, outputs: np.ndarray, percentile: float = 99.0
) -> float:
    """``u_max`` such that the source neuron's output covers ``percentile`` of ``outputs``.

    Returns
    -------
    u_max : float
    """
    top = float(np.percentile(outputs[outputs > 0], percentile)) if np.any(outputs > 0) else 0.0
    if top <= 0:
        return 1.0
    lo, hi = 0.0, 1.0
    rate = lambda u: neuron.rates(neuron.rheobase() + u, 1.0, 0.0)[0, 0]  # noqa: E731
    while rate(hi) < top and hi < 1e4:
        hi *= 2
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if rate(mid) < top else (lo, mid)
    return hi
