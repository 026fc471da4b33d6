"""Native TensorFlow builders for the memristive neurons in NengoDL.

They run the same event-exact dynamics as nengo core (`nengo_mif.dynamics`) on
TensorFlow tensors, so the spiking output matches `nengo.Simulator`, and they train
through the differentiable rate curve. Each step is compiled with XLA, which fuses
its few dozen element-wise operations into one pass over memory; that is what makes
a memristive neuron cost about what a LIF neuron costs.
``nengo_dl.configure_settings(lif_smoothing=s)`` smooths the rate curve at the
rheobase exactly as NengoDL's `SoftLIFRate` does for LIF, so gradients exist below
threshold. Registered when NengoDL is imported (`nengo_mif._dl_hook`), so users of
nengo core never load TensorFlow.
"""

from __future__ import annotations

import tensorflow as tf
from nengo_dl.neuron_builders import SimNeuronsBuilder, TFNeuronBuilder

from nengo_mif import dynamics
from nengo_mif.neurons import MIF, MIF2
from nengo_mif.tf_ops import TFOps


class MIFBuilder(TFNeuronBuilder):
    """Build a group of `.MIF` neuron operators."""

    spiking = True
    circuit_params = {"tau": "tau_rc", "g1_on": "g1_on", "v_hold": "v_hold", "v_min": "v_min"}
    has_m2 = False

    def build_pre(self, signals, config):
        super().build_pre(signals, config)
        neurons = [op.neurons for op in self.ops]
        sizes = [op.J.shape[0] for op in self.ops]
        self.circuit = dynamics.Circuit(
            has_m2=self.has_m2,
            **{
                key: signals.op_constant(neurons, sizes, attr, signals.dtype)
                for key, attr in self.circuit_params.items()
            },
        )
        self.tf_ops = TFOps(signals.dtype)
        self.sigma = config.lif_smoothing
        self.name = type(neurons[0]).__name__
        self._fused_step = tf.function(self._dynamics_step, jit_compile=True)
        self._fused_rate = tf.function(self._dynamics_rate, jit_compile=True)

    # ---- what the subclasses change ----
    def _dynamics_step(self, dt, J, *state):
        *out, finite = self._finite_step(dynamics.mif_step, dt, J, *state)
        return (*out, finite)

    def _dynamics_rate(self, J):
        return dynamics.mif_rate(self.circuit, J, self.tf_ops)

    # ----
    def _finite_step(self, step_fn, dt, J, *state):
        # the finiteness check fuses into the step's single pass over J
        finite = tf.reduce_all(tf.math.is_finite(J))
        return (*step_fn(self.circuit, dt, J, *state, ops=self.tf_ops), finite)

    def _run(self, dt, J, *state):
        *out, finite = self._fused_step(tf.cast(dt, J.dtype), J, *state)
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

    def step(self, J, dt, voltage, memristor):
        return self._run(dt, J, voltage, memristor)

    def training_step(self, J, dt, **state):
        if self.sigma:
            # SoftLIF-style smoothing of the rheobase kink
            j_th = self.circuit.rheobase()
            J = j_th + self.sigma * tf.nn.softplus((J - j_th) / self.sigma)
        rates = self._fused_rate(J)
        return rates if self.amplitude is None else rates * self.amplitude


class MIF2Builder(MIFBuilder):
    """Build a group of `.MIF2` neuron operators."""

    circuit_params = dict(
        MIFBuilder.circuit_params,
        g2_on="g2_on",
        g2_off="g2_off",
        e_reset="e_reset_norm",
        t_m2="t_m2",
    )
    has_m2 = True

    def _dynamics_step(self, dt, J, *state):
        return self._finite_step(dynamics.cycle_step, dt, J, *state)

    def _dynamics_rate(self, J):
        return dynamics.rate(self.circuit, J, self.tf_ops)

    def step(self, J, dt, voltage, memristor1, memristor2, m2_time):
        return self._run(dt, J, voltage, memristor1, memristor2, m2_time)


SimNeuronsBuilder.TF_NEURON_IMPL[MIF] = MIFBuilder
SimNeuronsBuilder.TF_NEURON_IMPL[MIF2] = MIF2Builder
