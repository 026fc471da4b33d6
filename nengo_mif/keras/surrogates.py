"""Surrogate derivatives of the spike: how a threshold crossing passes gradients back.

A spike is a step function of the membrane potential relative to threshold ``u``
(``u = v - 1`` in the normalised units, threshold 1); its derivative is zero almost
everywhere. Training through time replaces it, on the backward pass only, by a
smooth pseudo-derivative ``sigma'(u)`` of unit area, chosen by name as snnTorch's
``surrogate`` module does. ``width`` is the half width at half maximum of
``sigma'`` in threshold units, so the same width means the same reach for every
shape:

* ``atan``: ``sigma'(u) = (alpha / 2) / (1 + (pi alpha u / 2)^2)``, ``alpha = 2 /
  (pi width)`` (snnTorch's ``atan(alpha)``; its default ``alpha = 2`` is width 0.32);
* ``fast_sigmoid``: ``sigma'(u) = (k / 2) / (1 + k |u|)^2``, ``k = (sqrt(2) - 1) /
  width`` (snnTorch's ``fast_sigmoid(slope=k)`` up to the factor 1/2 that gives it
  unit area; SuperSpike);
* ``sigmoid``: ``sigma'(u) = k s(ku) (1 - s(ku))``, ``k = 1.7627 / width``.

Each is applied as ``S(u) - stop_gradient(S(u))`` with ``S`` the antiderivative:
zero on the forward pass, ``sigma'(u)`` on the backward pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

from nengo_mif._quiet import import_tensorflow
from nengo_mif.exceptions import ConfigError
from nengo_mif.names import SURROGATES, THROUGH_TIME_METHODS

tf = import_tensorflow()


def _atan(u, width):
    alpha = 2.0 / (math.pi * width)
    return tf.math.atan(0.5 * math.pi * alpha * u) / math.pi


def _fast_sigmoid(u, width):
    k = (math.sqrt(2.0) - 1.0) / width
    return 0.5 * k * u / (1.0 + k * tf.abs(u))


def _sigmoid(u, width):
    return tf.sigmoid(1.7627 * u / width)


#: name -> antiderivative ``S(u, width)`` of the pseudo-derivative
ANTIDERIVATIVES: dict[str, Callable] = {
    "atan": _atan,
    "fast_sigmoid": _fast_sigmoid,
    "sigmoid": _sigmoid,
}
assert tuple(ANTIDERIVATIVES) == SURROGATES


def surrogate(name: str, width: float) -> Callable:
    """``u -> S(u) - stop_gradient(S(u))``: zero forward, ``sigma'(u)`` backward.

    Returns
    -------
    gradient_only : callable
    """
    if name not in ANTIDERIVATIVES:
        raise ConfigError(f"surrogate must be one of {', '.join(SURROGATES)}; got {name!r}")
    if not width > 0:
        raise ConfigError(f"surrogate_width must be > 0; got {width!r}")
    antiderivative = ANTIDERIVATIVES[name]

    def gradient_only(u):
        s = antiderivative(u, width)
        return s - tf.stop_gradient(s)

    return gradient_only


@dataclass(frozen=True)
class ThroughTime:
    """How a spiking layer is differentiated when it trains through time.

    ``method``: ``"spike-aware"`` (straight-through: each step takes the rate
    curve's slope at its input; gradients cross time through the synapses only)
    or ``"bptt"`` (backpropagation through the neurons' own state, with the
    spike's ``surrogate`` of half width ``width``). ``detach_reset``: the reset
    passes no gradient (the default: it is cheaper and, as Zenke & Vogels 2021
    found, trains as well or better; SpikingJelly's ``detach_reset`` is the same
    choice). Either way the backward pass recomputes each step from its incoming
    state (`nengo_mif.keras.time_loop`), so memory holds the state at every step,
    not every intermediate of the step.
    """

    method: str = "spike-aware"
    surrogate: str = "atan"
    width: float = 0.3
    detach_reset: bool = True

    def __post_init__(self):
        if self.method not in THROUGH_TIME_METHODS:
            raise ConfigError(
                f"method must be one of {', '.join(THROUGH_TIME_METHODS)}; got {self.method!r}"
            )
        surrogate(self.surrogate, self.width)  # checks both

    def as_dict(self) -> dict:
        """The settings as a JSON-ready dict (a layer's config)."""
        return asdict(self)
