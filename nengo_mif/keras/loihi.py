"""Loihi's own neuron types (`nengo_loihi.neurons`) in the Keras engine.

Loihi fires at whole numbers of time steps, so its rates are ``1 / (dt ceil(period
/ dt))``: a staircase below the LIF (or ReLU) curve. As nengo-extras' NengoDL
builders for these types (`nengo_extras.loihi_training`, what nengo-loihi's
keras-to-loihi example trains with), the rate curve is the staircase on the forward
pass and, for the gradient, the smooth curve with ``tau_ref + dt / 2`` (the
staircase's average); the spiking step is Loihi's (`LoihiLIF.step`: discretised
``tau_rc`` and ``tau_ref``, no sub-step spike timing; `LoihiSpikingRectifiedLinear`
resets to zero). Imported by `nengo_mif.keras.maths.neuron_maths` when a Loihi type is asked for.
"""

from __future__ import annotations

from nengo_loihi.neurons import (
    LoihiLIF,
    LoihiSpikingRectifiedLinear,
    discretize_tau_rc,
    discretize_tau_ref,
)

from nengo_mif.defaults import default
from nengo_mif.keras.maths import LIFMaths, NeuronMaths, maths_for, tf


def _staircase(forward, smooth):
    """``forward`` on the forward pass, ``smooth``'s gradient on the backward pass."""
    return smooth + tf.stop_gradient(forward - smooth)


@maths_for(LoihiLIF)
class LoihiLIFMaths(LIFMaths):
    """`LoihiLIF`: Loihi's LIF rates (forward), LIF with ``tau_ref + dt/2`` (gradient)."""

    def __init__(self, neuron, smoothing, dtype, dt=default.dt):
        super().__init__(neuron, smoothing, dtype, dt)
        self.tau_rc = tf.constant(discretize_tau_rc(neuron.tau_rc, dt), self.dtype)
        self.tau_ref = tf.constant(discretize_tau_ref(neuron.tau_ref, dt), self.dtype)

    def rate(self, J):
        # the smooth curve through the staircase's middle: tau_ref + dt / 2
        smooth = self.lif_rate(J, self.tau_ref + 0.5 * self.dt)
        j = tf.maximum(J - 1.0, 1e-15)
        period = self.tau_ref + self.tau_rc * tf.math.log1p(tf.math.reciprocal(j))
        loihi = tf.where(J > 1.0, 1.0 / (self.dt * tf.math.ceil(period / self.dt)), 0.0 * J)
        return _staircase(loihi, smooth)

    def _refractory_after_spike(self, J, voltage, spiked):
        # Loihi spikes at whole steps: no partial refractory period
        return self.tau_ref + tf.zeros_like(J)


@maths_for(LoihiSpikingRectifiedLinear)
class LoihiSpikingRectifiedLinearMaths(NeuronMaths):
    """`LoihiSpikingRectifiedLinear`: at most one spike per step, reset to zero."""

    def rate(self, J):
        period = tf.math.reciprocal(tf.maximum(J, 1e-15))
        loihi = tf.where(J > 0, 1.0 / (self.dt * tf.math.ceil(period / self.dt)), 0.0 * J)
        smooth = tf.where(J > 0, 1.0 / (0.5 * self.dt + period), 0.0 * J)
        return _staircase(loihi, smooth)

    def step(self, dt, J, voltage):
        voltage = voltage + J * dt
        spiked = voltage > 1.0
        voltage = tf.where(spiked, tf.zeros_like(voltage), tf.maximum(voltage, 0.0))
        return tf.cast(spiked, self.dtype), voltage

    def surrogate_input(self, dt, J, voltage):
        return voltage + J * dt - 1.0
