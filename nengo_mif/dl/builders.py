"""Native TensorFlow builders for the memristive neurons in NengoDL.

They run the maths the neuron class declares (``MIF.dynamics``, from
`nengo_mif.dynamics`) on TensorFlow tensors, with the circuit constants the class
declares (``MIF.circuit_params``), so the spiking output matches `nengo.Simulator`,
and they train through the differentiable rate curve. Each step is compiled with
XLA, which fuses its few dozen element-wise operations into one pass over memory;
that is what makes a memristive neuron cost about what a LIF neuron costs.
``nengo_dl.configure_settings(lif_smoothing=s)`` smooths the rate curve at the
rheobase exactly as NengoDL's `SoftLIFRate` does for LIF, so gradients exist below
threshold. Registered when NengoDL is imported (`nengo_mif.dl.hook`), so users of
nengo core never load TensorFlow.
"""

from __future__ import annotations

import tensorflow as tf
from nengo_dl.neuron_builders import SimNeuronsBuilder, TFNeuronBuilder

from nengo_mif import dynamics
from nengo_mif.neurons import MIF, MIF2
from nengo_mif.tf_ops import TFOps, smooth_threshold


class MemristiveBuilder(TFNeuronBuilder):
    """Build a group of `.MIF` or `.MIF2` neuron operators (one type per group)."""

    spiking = True

    def build_pre(self, signals, config):
        super().build_pre(signals, config)
        neurons = [op.neurons for op in self.ops]
        sizes = [op.J.shape[0] for op in self.ops]
        kind = type(neurons[0])
        self.circuit = dynamics.Circuit(
            has_m2=kind.has_m2,
            **{
                key: signals.op_constant(neurons, sizes, attr, signals.dtype)
                for key, attr in kind.circuit_params.items()
            },
        )
        self.dynamics = kind.dynamics
        self.tf_ops = TFOps(signals.dtype)
        self.sigma = config.lif_smoothing
        self.name = kind.__name__
        self._fused_step = tf.function(self._dynamics_step, jit_compile=True)
        self._fused_rate = tf.function(self._dynamics_rate, jit_compile=True)

    def _dynamics_step(self, dt, J, *state):
        # the finiteness check fuses into the step's single pass over J
        finite = tf.reduce_all(tf.math.is_finite(J))
        return (*self.dynamics.step(self.circuit, dt, J, *state, ops=self.tf_ops), finite)

    def _dynamics_rate(self, J):
        return self.dynamics.rate(self.circuit, J, self.tf_ops)

    def step(self, J, dt, **state):
        # nengo_dl passes the state by name, in the order of the type's ``state`` dict
        *out, finite = self._fused_step(tf.cast(dt, J.dtype), J, *state.values())
        check = tf.debugging.Assert(
            finite,
            [
                f"{self.name} input current J is NaN or inf; check the weights and inputs "
                "feeding this layer"
            ],
        )
        with tf.control_dependencies([check]):
            n_spikes = tf.identity(out[0])
        return (n_spikes * self.alpha, *out[1:])

    def training_step(self, J, dt, **state):
        if self.sigma:
            J = smooth_threshold(J, self.circuit.rheobase(), self.sigma)
        rates = self._fused_rate(J)
        return rates if self.amplitude is None else rates * self.amplitude


for _kind in (MIF, MIF2):
    SimNeuronsBuilder.TF_NEURON_IMPL[_kind] = MemristiveBuilder
