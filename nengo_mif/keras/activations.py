"""Neuron types as Keras layers: rate curves and spiking neurons over time.

As `keras_spiking.layers`: the maths of each type lives in `nengo_mif.keras.maths`;
`RateActivation` applies its rate curve, `SpikingActivation` runs its step over a
time axis (inputs ``(batch, time, ...)``) through `SpikingCell`. The input current
is ``J = J_th + scale * z`` for the Keras pre-activation ``z`` (``J_th`` is the
type's threshold, ``scale`` the firing-rate scale, the converted ensemble's gain),
and each spike has area ``amplitude / scale``, as in a converted NengoDL network.
Initial states follow nengo's rule: drawn from the type's ``state`` distributions.
"""

from __future__ import annotations

import numpy as np

from nengo_mif._quiet import import_tensorflow
from nengo_mif.exceptions import NonFiniteInput
from nengo_mif.keras.maths import (
    fused,
    neuron_config,
    neuron_from_config,
    neuron_maths,
    rate_function,
)
from nengo_mif.keras.synapses import SynapseFilter

tf = import_tensorflow()


class RateActivation(tf.keras.layers.Layer):
    """A neuron type's rate curve as an activation: ``amplitude/scale * r(J_th + scale z)``.

    Parameters
    ----------
    neuron : nengo.neurons.NeuronType
        Any type the engine runs (`neuron_maths`); its amplitude scales the output.
    scale : float
        Firing-rate scale (the converted ensemble's gain).
    smoothing : float or None
        Smoothing of the rate curve at threshold (NengoDL's ``lif_smoothing``).
    dt : float
        Time step (s); Loihi's types fire at whole steps, so their rates depend on it.
    source : str or None
        The name of the layer whose ReLU this replaces (how a converted model is read).
    """

    def __init__(
        self,
        neuron,
        scale: float = 1.0,
        smoothing: float | None = None,
        dt: float = 0.001,
        source: str | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.neuron = neuron_from_config(neuron)
        self.scale = float(scale)
        self.smoothing = smoothing
        self.dt = float(dt)
        self.source = source
        self.maths = neuron_maths(self.neuron, smoothing, self.dtype, self.dt)
        self.amplitude = getattr(self.neuron, "amplitude", 1.0) / self.scale
        self._rate = rate_function(self.maths, self.scale, self.amplitude)

    def call(self, z):
        return self._rate(z)

    def get_config(self):
        return dict(
            super().get_config(),
            neuron=neuron_config(self.neuron),
            scale=self.scale,
            smoothing=self.smoothing,
            dt=self.dt,
            source=self.source,
        )


class SpikingCell(tf.keras.layers.Layer):
    """One time step of a neuron type over a layer of neurons (an RNN cell).

    The state is the type's state variables plus a flag recording whether every
    input current so far was finite (XLA cannot raise mid-loop; `check_finite`
    reads the flag afterwards). With a ``synapse``, the input first passes nengo's
    ``Lowpass(synapse)`` and reaches the neurons one step later, as through a nengo
    connection, plus an unfiltered ``bias``: then the filter's value is state too.

    Called with ``training=True``, the forward pass is the same spikes, and the
    backward pass is spike-aware training's straight-through estimate: the derivative
    of the type's (smoothed) rate curve at the present input, ``amplitude r'(J)``;
    gradients reach earlier steps through the synapse, not the neurons' state.
    """

    def __init__(
        self,
        neuron,
        units_shape,
        dt: float = 0.001,
        scale: float = 1.0,
        initial_state=None,
        seed: int | None = 0,
        synapse: float | None = None,
        bias=None,
        smoothing: float | None = None,
        train_synapse: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.neuron = neuron_from_config(neuron)
        self.units_shape = tuple(int(d) for d in units_shape)
        self.n_neurons = int(np.prod(self.units_shape))
        self.dt = float(dt)
        self.scale = float(scale)
        self.seed = seed
        self.maths = neuron_maths(self.neuron, smoothing, self.dtype, self.dt)
        if not self.maths.spiking:
            raise TypeError(f"{type(self.neuron).__name__} does not spike; use RateActivation")
        self.amplitude = getattr(self.neuron, "amplitude", 1.0) / self.scale
        self.alpha = self.amplitude / self.dt
        names = self.maths.state_names
        values = (
            self.maths.initial_state(self.n_neurons, seed)
            if initial_state is None
            else [np.asarray(initial_state[name]) for name in names]
        )
        self.initial = [np.asarray(v, self.dtype).reshape(self.units_shape) for v in values]
        self.synapse = synapse
        self.synapse_filter = None
        if synapse is not None:
            if bias is None:
                bias = np.zeros(self.units_shape[-1:], self.dtype)
            self.synapse_filter = SynapseFilter(synapse, self.dt, bias, train_synapse, self.dtype)
            self.initial.append(np.zeros(self.units_shape, self.dtype))  # the filter's value
        self.state_size = [tf.TensorShape(self.units_shape)] * len(self.initial) + [
            tf.TensorShape([1])
        ]
        self.output_size = tf.TensorShape(self.units_shape)
        self._step = fused(self._fused_step)
        self._train_step = fused(self._fused_train_step)

    def build(self, input_shape):
        if self.synapse_filter is not None:
            self.synapse_filter.build_weights(self)
        super().build(input_shape)

    def get_initial_state(self, inputs=None, batch_size=None, dtype=None):
        batch = tf.shape(inputs)[0] if inputs is not None else batch_size
        state = [
            tf.broadcast_to(tf.constant(v), tf.concat([[batch], v.shape], 0)) for v in self.initial
        ]
        return state + [tf.ones((batch, 1), self.dtype)]

    def call(self, x, states, training=None):
        *state, finite = states
        if not training:
            filt = () if self.synapse_filter is None else self.synapse_filter.arguments()
            spikes, ok, *state = self._step(x, *filt, *state)
            return spikes, [*state, finite * ok]
        if self.synapse_filter is None:
            z = x
        else:
            *state, y = state
            z, y = self.synapse_filter.step(x, y)
        spikes, slope, ok, *state = self._train_step(tf.stop_gradient(z), *state)
        # forward: the spikes; backward: the rate curve's slope (straight-through)
        out = spikes + slope * (z - tf.stop_gradient(z))
        if self.synapse_filter is not None:
            state.append(y)
        return out, [*state, finite * ok]

    def _current(self, z):
        J = self.maths.j_th + self.scale * z
        is_finite = tf.math.is_finite(J)
        ok = tf.reduce_all(tf.reshape(is_finite, (tf.shape(J)[0], -1)), axis=1, keepdims=True)
        J = tf.where(is_finite, J, tf.zeros_like(J))  # keeps the loop finite; `ok` reports it
        return J, tf.cast(ok, self.dtype)

    def _fused_step(self, x, *state):
        if self.synapse_filter is None:
            z = x
        else:
            a, b, bias, *state, y = state
            z = y + bias  # the value the synapse held before this step
            state.append(a * y + b * x)
        J, ok = self._current(z)
        if self.synapse_filter is None:
            n_spikes, *state = self.maths.step(self.dt, J, *state)
        else:
            n_spikes, *neurons = self.maths.step(self.dt, J, *state[:-1])
            state = [*neurons, state[-1]]
        return (n_spikes * self.alpha, ok, *state)

    def _fused_train_step(self, z, *state):
        J, ok = self._current(z)
        n_spikes, *state = self.maths.step(self.dt, J, *state)
        with tf.GradientTape() as tape:
            tape.watch(J)
            r = self.maths.rate(J)
        slope = tape.gradient(r, J) * (self.amplitude * self.scale)
        # the curve is flat or steep beyond its range (rheobase, latch-up): no NaN/inf
        slope = tf.where(tf.math.is_finite(slope), slope, tf.zeros_like(slope))
        return (n_spikes * self.alpha, slope, ok, *state)


class SpikingActivation(tf.keras.layers.Layer):
    """A neuron type over time: inputs ``(batch, time, ...)`` -> spikes, same shape.

    Each spike has area ``amplitude / scale`` (output ``n_spikes * amplitude /
    (scale * dt)``), as in a converted NengoDL network.

    Parameters
    ----------
    neuron : nengo.neurons.NeuronType
        A spiking type the engine runs.
    dt : float
        Time step (s).
    scale : float
        Firing-rate scale.
    stateful : bool
        Carry the state from one call to the next (fixed batch size), as
        ``keras_spiking.SpikingActivation``.
    initial_state : dict of arrays or None
        The neurons' initial state by name (e.g. from a nengo build); ``None``:
        drawn from the type's distributions with ``seed``.
    seed : int or None
        Seed of the initial-state draw.
    return_finite : bool
        Also return, per batch item, whether every input current was finite.
    synapse : float or None
        Lowpass time constant (s) of the connection feeding the neurons: the input is
        filtered and arrives one step later, plus ``bias`` unfiltered (what
        `Lowpass` with ``delay=True`` and a bias add would do, in the same loop).
    bias : array or None
        Per-channel bias added after the synapse (a weight, trained with the layer).
    smoothing : float or None
        Smoothing of the rate curve whose slope is the spike-aware gradient.
    train_synapse : bool
        Make the synapse time constant a trainable weight.
    source : str or None
        The name of the layer whose ReLU this replaces (how a converted model is read).
    """

    def __init__(
        self,
        neuron,
        dt: float = 0.001,
        scale: float = 1.0,
        stateful: bool = False,
        initial_state=None,
        seed: int | None = 0,
        return_finite: bool = False,
        synapse: float | None = None,
        bias=None,
        smoothing: float | None = None,
        train_synapse: bool = False,
        source: str | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.neuron = neuron_from_config(neuron)
        self.source = source
        self.dt, self.scale, self.stateful = float(dt), float(scale), stateful
        self.initial_state, self.seed, self.return_finite = initial_state, seed, return_finite
        self.synapse, self.bias = synapse, bias
        self.smoothing, self.train_synapse = smoothing, train_synapse

    def build(self, input_shape):
        self.cell = SpikingCell(
            self.neuron,
            input_shape[2:],
            dt=self.dt,
            scale=self.scale,
            initial_state=self.initial_state,
            seed=self.seed,
            synapse=self.synapse,
            bias=self.bias,
            smoothing=self.smoothing,
            train_synapse=self.train_synapse,
            dtype=self.dtype,
            name="cell",
        )
        # each step is one XLA computation (`SpikingCell._step`); compiling the whole
        # loop instead was measured slower and took 3x the memory
        self.rnn = tf.keras.layers.RNN(
            self.cell, return_sequences=True, return_state=True, stateful=self.stateful
        )
        super().build(input_shape)

    def call(self, z, training=None):
        spikes, *state = self.rnn(z, training=training)
        finite = state[-1][:, 0] > 0.5
        return (spikes, finite) if self.return_finite else spikes

    @property
    def trains_synapse(self) -> bool:
        return self.synapse is not None and self.train_synapse

    @property
    def synapse_weights(self) -> tuple:
        """The trained ``(bias, tau)`` of the synapse feeding the neurons (tau None if fixed).

        Returns
        -------
        bias, tau : np.ndarray, float or None
        """
        f = self.cell.synapse_filter
        tau = f.current_tau() if f.trainable else None
        return f.bias.numpy(), tau

    def get_config(self):
        return dict(
            super().get_config(),
            neuron=neuron_config(self.neuron),
            dt=self.dt,
            scale=self.scale,
            stateful=self.stateful,
            seed=self.seed,
            return_finite=self.return_finite,
            synapse=self.synapse,
            bias=None if self.bias is None else np.asarray(self.bias).tolist(),
            smoothing=self.smoothing,
            train_synapse=self.train_synapse,
            source=self.source,
        )


def check_finite(finite, layer_name: str, neuron_name: str) -> None:
    """Raise the NengoDL builders' error if any input current of a layer was NaN/inf."""
    if not bool(np.all(finite)):
        raise NonFiniteInput(
            f"{neuron_name} input current J is NaN or inf in layer {layer_name!r}; check "
            "the weights and inputs feeding this layer",
        )
