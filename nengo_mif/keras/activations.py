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
from nengo_mif.defaults import default
from nengo_mif.engines import amplitude_of
from nengo_mif.exceptions import EngineError, NonFiniteInput
from nengo_mif.keras.maths import (
    fused,
    neuron_config,
    neuron_from_config,
    neuron_maths,
    rate_function,
)
from nengo_mif.keras.surrogates import ThroughTime, surrogate
from nengo_mif.keras.synapses import SynapseFilter, check_time_axis
from nengo_mif.keras.time_loop import run_over_time, vjp_function
from nengo_mif.registry import trainable_constant
from nengo_mif.settings import check_argument

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
        dt: float = default.dt,
        source: str | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.neuron = neuron_from_config(neuron)
        check_argument("RateActivation", "scale", scale, low=0, low_open=True)
        check_argument("RateActivation", "dt", dt, low=0, low_open=True)
        self.scale = float(scale)
        self.smoothing = smoothing
        self.dt = float(dt)
        self.source = source
        self.maths = neuron_maths(self.neuron, smoothing, self.dtype, self.dt)
        self.amplitude = amplitude_of(self.neuron, self.scale)
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

    Called with ``training=True``, the forward pass is the same spikes; the backward
    pass is ``through_time``'s (`nengo_mif.keras.surrogates.ThroughTime`):

    * ``spike-aware``: the straight-through estimate, the derivative of the type's
      (smoothed) rate curve at the present input, ``amplitude r'(J)``; gradients
      reach earlier steps through the synapse, not the neurons' state;
    * ``bptt``: the step itself is differentiated with respect to its input current
      and its incoming state (`NeuronMaths.step_through_time`), so gradients flow
      from step to step through the membrane (and the memristors' continuous
      evolution); each spike count ``n`` takes the surrogate derivative at the
      membrane's distance from threshold ``u`` (`NeuronMaths.surrogate_input`)::

          dn/dJ = sigma'(u) du/dJ + d(q)/dJ,   dn/dstate = sigma'(u) du/dstate + d(q)/dstate

      where ``q`` is the event-exact number of further whole inter-spike intervals
      in the step before its floor (MIF, MIF2 at kHz rates fire several times per
      step); unless ``detach_reset``, the reset adds ``-reset_drop sigma'(u)`` to
      the new voltage's derivative.

    With ``train_constant``, the type's trainable constant (`registry.trainable_constant`:
    LIF's ``tau_rc``, as PLIF; MIF's and MIF2's capacitance) is one weight of the layer,
    ``low + (high - low) sigmoid(w)``, so it stays within its physical bounds; every
    step reads it, and its gradient is the sum over steps of each step's.
    """

    def __init__(
        self,
        neuron,
        units_shape,
        dt: float = default.dt,
        scale: float = 1.0,
        initial_state=None,
        seed: int | None = 0,
        synapse: float | None = None,
        bias=None,
        smoothing: float | None = None,
        train_synapse: bool = False,
        through_time: ThroughTime | None = None,
        train_constant: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.neuron = neuron_from_config(neuron)
        self.constant = trainable_constant(self.neuron) if train_constant else None
        if train_constant and self.constant is None:
            raise EngineError(
                f"{type(self.neuron).__name__} has no trainable constant; "
                "train_constants works for LIF, MIF and MIF2"
            )
        self.constant_weight = None
        self.through_time = through_time or ThroughTime()
        self.units_shape = tuple(int(d) for d in units_shape)
        self.n_neurons = int(np.prod(self.units_shape))
        self.dt = float(dt)
        self.scale = float(scale)
        self.seed = seed
        self.maths = neuron_maths(self.neuron, smoothing, self.dtype, self.dt)
        if not self.maths.spiking:
            raise TypeError(f"{type(self.neuron).__name__} does not spike; use RateActivation")
        self.amplitude = amplitude_of(self.neuron, self.scale)
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
        self._surrogate = surrogate(self.through_time.surrogate, self.through_time.width)
        #: one step per mode, ``(x, *params, *state) -> (output, finite, *state)``
        self.steps = {mode: fused(self._step_function(mode)) for mode in MODES}
        #: the training steps' vector-Jacobian products (`run_over_time`'s backward)
        self.vjps = {mode: fused(vjp_function(self._step_function(mode))) for mode in MODES[1:]}

    def build(self, input_shape):
        if self.synapse_filter is not None:
            self.synapse_filter.build_weights(self)
        if self.constant is not None:
            c = self.constant
            start = (getattr(self.neuron, c.param) - c.low) / (c.high - c.low)
            if not 0 < start < 1:
                raise EngineError(
                    f"{type(self.neuron).__name__}.{c.param} = "
                    f"{getattr(self.neuron, c.param):g} lies outside the bounds it trains "
                    f"within, ({c.low:g}, {c.high:g}) {c.why}"
                )
            self.constant_weight = self.add_weight(
                c.param,
                shape=(),
                initializer=tf.keras.initializers.Constant(np.log(start / (1 - start))),
            )
        super().build(input_shape)

    def constant_value(self):
        """The trainable constant in its unit, within its bounds (a tensor).

        Returns
        -------
        value : tf.Tensor
        """
        c = self.constant
        return c.low + (c.high - c.low) * tf.sigmoid(self.constant_weight)

    @property
    def training_mode(self) -> str:
        return self.through_time.method

    def parameters(self) -> tuple:
        """The synapse's ``(a, b, bias)`` and the trainable constant, as tensors (if any).

        Returns
        -------
        params : tuple of tf.Tensor
        """
        # tensors, not the variables: the loop's custom gradient reaches them through
        # these reads
        synapse = () if self.synapse_filter is None else self.synapse_filter.arguments()
        constant = () if self.constant is None else (self.constant_value(),)
        return tuple(tf.convert_to_tensor(p) for p in (*synapse, *constant))

    def get_initial_state(self, inputs=None, batch_size=None, dtype=None):
        return self.initial_states(tf.shape(inputs)[0] if inputs is not None else batch_size) + [
            tf.ones((batch_size if inputs is None else tf.shape(inputs)[0], 1), self.dtype)
        ]

    def initial_states(self, batch) -> list:
        """The neurons' (and the synapse's) initial state for ``batch`` images.

        Returns
        -------
        state : list of tf.Tensor
        """
        return [
            tf.broadcast_to(tf.constant(v), tf.concat([[batch], v.shape], 0)) for v in self.initial
        ]

    def call(self, x, states, training=None):
        # one step as a Keras RNN cell (``SpikingActivation(stateful=True)``)
        *state, finite = states
        mode = self.training_mode if training else "inference"
        out, ok, *state = self.steps[mode](x, *self.parameters(), *state)
        return out, [*state, finite * tf.cast(ok[:, None], self.dtype)]

    def _current(self, z):
        J = self.maths.j_th + self.scale * z
        is_finite = tf.math.is_finite(J)
        ok = tf.reduce_all(tf.reshape(is_finite, (tf.shape(J)[0], -1)), axis=1)
        J = tf.where(is_finite, J, tf.zeros_like(J))  # keeps the loop finite; `ok` reports it
        return J, ok

    def _step_function(self, mode: str):
        """The step of ``mode`` (see the class docstring) with the synapse inside."""
        dt, filt, trains_constant = self.dt, self.synapse_filter, self.constant is not None

        def step(x, *args):
            maths = self.maths
            if filt is None:
                z, tail = x, []
            else:
                a, b, bias, *args, y = args
                z, y = SynapseFilter.advance(x, y, a, b, bias)
                tail = [y]
            if trains_constant:
                constant, *args = args
                maths = maths.with_constant(constant)
            state = list(args)
            incoming = state
            J, ok = self._current(z)
            if mode == "inference":
                n_spikes, *state = maths.step(dt, J, *state)
                out = n_spikes * self.alpha
            elif mode == "spike-aware":
                # forward: the spikes; backward: the rate curve's slope (straight-through)
                n_spikes, *state = maths.step(dt, tf.stop_gradient(J), *state)
                state = [tf.stop_gradient(v) for v in state]
                out = n_spikes * self.alpha + tf.stop_gradient(self._slope(J)) * (
                    z - tf.stop_gradient(z)
                )
            else:
                n_spikes, *state = maths.step_through_time(dt, J, *state)
                # zero forward; the spike's surrogate derivative backward
                s = self._surrogate(maths.surrogate_input(dt, J, *incoming))
                if not self.through_time.detach_reset:
                    state[0] = state[0] - maths.reset_drop * s
                out = (n_spikes + s) * self.alpha
            return (out, ok, *state, *tail)

        return step

    def _slope(self, J):
        """``d output / d z``: the (smoothed) rate curve's slope at ``J``."""
        with tf.GradientTape() as tape:
            tape.watch(J)
            r = self.maths.rate(J)
        slope = tape.gradient(r, J) * (self.amplitude * self.scale)
        # the curve is flat or steep beyond its range (rheobase, latch-up): no NaN/inf
        return tf.where(tf.math.is_finite(slope), slope, tf.zeros_like(slope))


#: a cell's steps: evaluation, and the two ways of training through time
MODES = ("inference", "spike-aware", "bptt")


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
    through_time : ThroughTime or None
        How ``training=True`` differentiates the neurons (default: spike-aware).
    train_constant : bool
        Make the type's trainable constant a weight of the layer (`SpikingCell`).
    time_major : bool
        Inputs and outputs are ``(time, batch, ...)`` (how `convert.spiking_model`
        keeps a whole network, so that no layer transposes its activity).
    source : str or None
        The name of the layer whose ReLU this replaces (how a converted model is read).
    """

    def __init__(
        self,
        neuron,
        dt: float = default.dt,
        scale: float = 1.0,
        stateful: bool = False,
        initial_state=None,
        seed: int | None = 0,
        return_finite: bool = False,
        synapse: float | None = None,
        bias=None,
        smoothing: float | None = None,
        train_synapse: bool = False,
        through_time: ThroughTime | dict | None = None,
        train_constant: bool = False,
        source: str | None = None,
        time_major: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.neuron = neuron_from_config(neuron)
        check_argument("SpikingActivation", "dt", dt, low=0, low_open=True)
        check_argument("SpikingActivation", "scale", scale, low=0, low_open=True)
        if isinstance(through_time, dict):
            through_time = ThroughTime(**through_time)
        self.through_time = through_time or ThroughTime()
        self.source = source
        self.dt, self.scale, self.stateful = float(dt), float(scale), stateful
        self.initial_state, self.seed, self.return_finite = initial_state, seed, return_finite
        self.synapse, self.bias = synapse, bias
        self.smoothing, self.train_synapse = smoothing, train_synapse
        self.train_constant = train_constant
        self.time_major = time_major

    def build(self, input_shape):
        check_time_axis(self, input_shape)
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
            through_time=self.through_time,
            train_constant=self.train_constant,
            dtype=self.dtype,
            name="cell",
        )
        # each step is one XLA computation (`SpikingCell.steps`); compiling the whole
        # loop instead was measured slower and took 3x the memory
        self.rnn = (
            tf.keras.layers.RNN(
                self.cell,
                return_sequences=True,
                return_state=True,
                stateful=True,
                time_major=self.time_major,
            )
            if self.stateful
            else None
        )
        if self.rnn is None:
            self.cell.build((None, *input_shape[2:]))
        super().build(input_shape)

    def call(self, z, training=None):
        if self.rnn is None:
            if tf.is_tensor(training):
                training = tf.get_static_value(training)
            spikes, finite = run_over_time(
                self.cell, z, training=bool(training), time_major=self.time_major
            )
        else:  # Keras keeps the state from one call to the next
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

    @property
    def trained_constant(self) -> dict[str, float]:
        """The trained constant by parameter name (empty if it is fixed).

        Returns
        -------
        params : dict of float
        """
        cell = self.cell
        if cell.constant is None:
            return {}
        return {cell.constant.param: float(cell.constant_value().numpy())}

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
            through_time=self.through_time.as_dict(),
            train_constant=self.train_constant,
            source=self.source,
            time_major=self.time_major,
        )


def check_finite(finite, layer_name: str, neuron_name: str) -> None:
    """Raise the NengoDL builders' error if any input current of a layer was NaN/inf."""
    if not bool(np.all(finite)):
        raise NonFiniteInput(
            f"{neuron_name} input current J is NaN or inf in layer {layer_name!r}; check "
            "the weights and inputs feeding this layer",
        )
