"""Neuron types as Keras layers: the Keras-native engine.

Follows `keras_spiking.layers`: a *maths* object per neuron type holds the rate curve
and the spiking step on tensors; `RateActivation` applies the rate curve,
`SpikingActivation` runs the step over a time axis (inputs ``(batch, time, ...)``),
and `Lowpass` filters over time with nengo's discretisation. What they compute is
what NengoDL computes for the same network:

* the input current is ``J = J_th + scale * z`` for the Keras pre-activation ``z``
  (``J_th`` is the type's threshold, ``scale`` the firing-rate scale, the converted
  ensemble's gain), and the output is scaled by ``amplitude / scale``;
* MIF and MIF2 run `nengo_mif.dynamics` through `nengo_mif.tf_ops.TFOps`, as their
  NengoDL builders do; LIF and spiking ReLU run NengoDL's own step and rate
  formulas (`nengo_dl.neuron_builders`), operation for operation;
* initial states follow nengo's rule: drawn from the type's ``state`` distributions.

This module imports TensorFlow and nengo core, never nengo_dl or nengo_loihi.
"""

from __future__ import annotations

from collections.abc import Callable

import nengo
import numpy as np
from nengo.utils.filter_design import cont2discrete

from nengo_mif import dynamics
from nengo_mif._quiet import import_tensorflow
from nengo_mif.encodings import ENCODINGS
from nengo_mif.neurons import MIF, MIF2
from nengo_mif.registry import initial_state, threshold

tf = import_tensorflow()
from nengo_mif.tf_ops import TFOps  # noqa: E402

_MATHS: dict[type, type] = {}


def fused(fn: Callable) -> Callable:
    """``fn`` compiled with XLA, which fuses a neuron's element-wise maths into one pass.

    Only the neuron maths: XLA's CPU convolutions are several times slower than
    TensorFlow's own, so the layers around stay uncompiled (as in NengoDL's builders).

    Returns
    -------
    fn : callable
    """
    return tf.function(fn, jit_compile=True, autograph=False)


def maths_for(*neuron_classes: type) -> Callable:
    """Class decorator: register the maths of these nengo neuron types.

    Returns
    -------
    decorator : callable
    """

    def decorator(cls):
        for nc in neuron_classes:
            _MATHS[nc] = cls
        return cls

    return decorator


def neuron_maths(
    neuron: nengo.neurons.NeuronType,
    smoothing: float | None = None,
    dtype="float32",
    dt: float = 0.001,
) -> NeuronMaths:
    """The maths of ``neuron`` on tensors; a clear error for a type the engine lacks.

    ``dt`` matters only for Loihi's types (their rates are whole numbers of steps).

    Returns
    -------
    maths : NeuronMaths
    """
    if type(neuron).__module__.startswith("nengo_loihi"):
        import nengo_mif.loihi_layers  # noqa: F401  (registers Loihi's types; loads nengo_loihi)
    for cls in type(neuron).__mro__:
        if cls in _MATHS:
            return _MATHS[cls](neuron, smoothing, dtype, dt)
    raise TypeError(
        f"the Keras engine has no implementation of {type(neuron).__name__}; "
        f"it runs {', '.join(c.__name__ for c in _MATHS)} (use --engine nengo-dl for others)"
    )


class NeuronMaths:
    """Rate curve and spiking step of one neuron type, on tensors.

    ``rate(J)`` and ``step(dt, J, *state)`` exclude the amplitude; ``step`` returns
    ``(n_spikes, *state)`` with the state in the order of the type's ``state`` dict.
    ``fuse`` says whether XLA fusion pays for the rate curve (not for ReLU's one op).
    """

    fuse = True

    def __init__(self, neuron, smoothing, dtype, dt=0.001):
        self.neuron = neuron
        self.dt = dt  # only Loihi's types, whose rates depend on the step, use it
        self.smoothing = smoothing or None
        self.dtype = tf.as_dtype(dtype)
        self.ops = TFOps(self.dtype)
        self.j_th = threshold(neuron)
        self.spiking = bool(neuron.spiking)

    @property
    def state_names(self) -> tuple[str, ...]:
        return tuple(self.neuron.state) if self.spiking else ()

    def rate(self, J):
        raise NotImplementedError

    def step(self, dt, J, *state):
        raise NotImplementedError

    def initial_state(self, n_neurons: int, seed: int | None) -> list[np.ndarray]:
        """nengo's rule: draw each state variable from the type's distribution.

        Returns
        -------
        state : list of np.ndarray
        """
        state = initial_state(self.neuron, n_neurons, seed, self.dtype.as_numpy_dtype)
        return [state[name] for name in self.state_names]


@maths_for(nengo.RectifiedLinear)
class RectifiedLinearMaths(NeuronMaths):
    """ReLU; its spiking counterpart integrates ``J dt`` and spikes per whole unit."""

    fuse = False

    def rate(self, J):
        return tf.nn.relu(J)

    def step(self, dt, J, voltage):
        voltage = voltage + tf.nn.relu(J) * dt
        n_spikes = tf.floor(voltage)
        return n_spikes, voltage - n_spikes


@maths_for(nengo.LIF, nengo.LIFRate)
class LIFMaths(NeuronMaths):
    """NengoDL's LIF: `LIFRate` / `SoftLIFRate` for training, `LIFBuilder.step`."""

    def __init__(self, neuron, smoothing, dtype, dt=0.001):
        super().__init__(neuron, smoothing, dtype, dt)
        self.tau_rc = tf.constant(neuron.tau_rc, self.dtype)
        self.tau_ref = tf.constant(neuron.tau_ref, self.dtype)
        self.min_voltage = tf.constant(getattr(neuron, "min_voltage", 0.0), self.dtype)

    def rate(self, J):
        return self.lif_rate(J, self.tau_ref)

    def lif_rate(self, J, tau_ref):
        """NengoDL's (smoothed) LIF rate with refractory period ``tau_ref``."""
        J = J - 1.0
        if self.smoothing is None:
            rates = 1.0 / (
                tau_ref + self.tau_rc * tf.math.log1p(tf.math.reciprocal(tf.maximum(J, 1e-15)))
            )
            return tf.where(J > 0, rates, tf.zeros_like(J))
        sigma = tf.constant(self.smoothing, self.dtype)
        js = J / sigma
        j_valid = js > -20
        z = tf.nn.softplus(tf.where(j_valid, js, tf.zeros_like(js))) * sigma
        q = tf.where(j_valid, tf.math.log1p(tf.math.reciprocal(z)), -js - tf.math.log(sigma))
        return 1.0 / (tau_ref + self.tau_rc * q)

    def step(self, dt, J, voltage, refractory_time):
        zero = tf.zeros((), self.dtype)
        delta_t = tf.clip_by_value(dt - refractory_time, zero, dt)
        voltage = voltage + (voltage - J) * tf.math.expm1(-delta_t / self.tau_rc)
        spiked = voltage > 1.0
        partial_ref = -self.tau_rc * tf.math.log1p((1.0 - voltage) / (J - 1.0))
        refractory_time = tf.where(spiked, self.tau_ref - partial_ref, refractory_time - dt)
        voltage = tf.where(spiked, tf.zeros_like(voltage), tf.maximum(voltage, self.min_voltage))
        return tf.cast(spiked, self.dtype), voltage, refractory_time


@maths_for(MIF)
class MIFMaths(NeuronMaths):
    """`dynamics.mif_rate` and `dynamics.mif_step`, as `MIFBuilder` runs them."""

    rate_fn = staticmethod(dynamics.mif_rate)
    step_fn = staticmethod(dynamics.mif_step)

    def __init__(self, neuron, smoothing, dtype, dt=0.001):
        super().__init__(neuron, smoothing, dtype, dt)
        self.circuit = neuron.circuit()

    def rate(self, J):
        if self.smoothing is not None:
            # SoftLIF-style smoothing of the rheobase kink (as MIFBuilder.training_step)
            J = self.j_th + self.smoothing * tf.nn.softplus((J - self.j_th) / self.smoothing)
        return self.rate_fn(self.circuit, J, self.ops)

    def step(self, dt, J, *state):
        return self.step_fn(self.circuit, dt, J, *state, ops=self.ops)


@maths_for(MIF2)
class MIF2Maths(MIFMaths):
    """`dynamics.rate` and `dynamics.cycle_step`, as `MIF2Builder` runs them."""

    rate_fn = staticmethod(dynamics.rate)
    step_fn = staticmethod(dynamics.cycle_step)


def _neuron_config(neuron: nengo.neurons.NeuronType) -> dict:
    return dict(
        type=type(neuron).__name__,
        params={p: getattr(neuron, p) for p in neuron.params if p != "initial_state"},
    )


def _neuron_from_config(config) -> nengo.neurons.NeuronType:
    if isinstance(config, nengo.neurons.NeuronType):
        return config
    classes = {c.__name__: c for c in _MATHS}
    return classes[config["type"]](**config["params"])


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
    """

    def __init__(
        self,
        neuron,
        scale: float = 1.0,
        smoothing: float | None = None,
        dt: float = 0.001,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.neuron = _neuron_from_config(neuron)
        self.scale = float(scale)
        self.smoothing = smoothing
        self.dt = float(dt)
        self.maths = neuron_maths(self.neuron, smoothing, self.dtype, self.dt)
        self.amplitude = getattr(self.neuron, "amplitude", 1.0) / self.scale
        self._rate = rate_function(self.maths, self.scale, self.amplitude)

    def call(self, z):
        return self._rate(z)

    def get_config(self):
        return dict(
            super().get_config(),
            neuron=_neuron_config(self.neuron),
            scale=self.scale,
            smoothing=self.smoothing,
            dt=self.dt,
        )


def rate_function(maths: NeuronMaths, scale: float, amplitude: float) -> Callable:
    """``z -> amplitude * r(J_th + scale z)`` with its gradient, fused where it pays.

    The rate curve acts element by element, so one XLA pass computes both the rate
    and its slope (the derivative autodiff would build as a second graph of dozens of
    operations), and the backward pass is a single multiply. Cheap curves (ReLU) run
    as they are.

    Returns
    -------
    rate : callable
    """

    def rate(z):
        return maths.rate(maths.j_th + scale * z) * amplitude

    if not maths.fuse:
        return rate

    def value_and_slope(z):
        with tf.GradientTape() as tape:
            tape.watch(z)
            r = rate(z)
        return r, tape.gradient(r, z)

    fused_value_and_slope = fused(value_and_slope)

    @tf.custom_gradient
    def fused_rate(z):
        r, slope = fused_value_and_slope(z)
        return r, lambda dy: dy * slope

    return fused_rate


class NonFiniteInput(tf.errors.InvalidArgumentError):
    """Raised by `check_finite`: a spiking layer's input current was NaN or inf."""


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
        self.neuron = _neuron_from_config(neuron)
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


class SynapseFilter:
    """nengo's ``Lowpass(tau)`` on a connection plus the layer's unfiltered bias.

    Inference uses nengo's own coefficients (`lowpass_coefficients`, bit-equal to
    NengoDL); with ``trainable`` the time constant is a weight and the coefficients
    follow it, ``a = exp(-dt / tau)``, ``b = 1 - a``.
    """

    def __init__(self, tau, dt, bias, trainable, dtype):
        self.tau, self.dt, self.trainable = float(tau), float(dt), trainable
        self.bias_init = None if bias is None else np.asarray(bias, dtype)
        self.a, self.b = lowpass_coefficients(self.tau, self.dt)
        self.dtype = dtype
        self.bias = self.tau_weight = None

    def build_weights(self, layer: tf.keras.layers.Layer) -> None:
        if self.bias_init is not None:
            self.bias = layer.add_weight(
                "bias",
                shape=self.bias_init.shape,
                initializer=tf.keras.initializers.Constant(self.bias_init),
            )
        if self.trainable:
            floor = 0.03 * self.dt  # nengo treats shorter time constants as no filter
            self.tau_weight = layer.add_weight(
                "tau",
                shape=(),
                initializer=tf.keras.initializers.Constant(self.tau),
                constraint=lambda t: tf.maximum(t, floor),
            )

    def coefficients(self):
        if self.tau_weight is None:
            return tf.constant(self.a, self.dtype), tf.constant(self.b, self.dtype)
        decay = tf.math.expm1(-self.dt / self.tau_weight)
        return decay + 1.0, -decay

    def arguments(self) -> tuple:
        return (*self.coefficients(), self.bias)

    def step(self, x, y):
        """``(z, y')``: the value reaching the neurons now and the filter's next value."""
        a, b = self.coefficients()
        return y + self.bias, a * y + b * x  # a neuron layer's filter always has a bias

    def current_tau(self) -> float:
        return self.tau if self.tau_weight is None else float(self.tau_weight.numpy())


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
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.neuron = _neuron_from_config(neuron)
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
            neuron=_neuron_config(self.neuron),
            dt=self.dt,
            scale=self.scale,
            stateful=self.stateful,
            seed=self.seed,
            return_finite=self.return_finite,
            synapse=self.synapse,
            bias=None if self.bias is None else np.asarray(self.bias).tolist(),
            smoothing=self.smoothing,
            train_synapse=self.train_synapse,
        )


def check_finite(finite, layer_name: str, neuron_name: str) -> None:
    """Raise the NengoDL builders' error if any input current of a layer was NaN/inf."""
    if not bool(np.all(finite)):
        raise NonFiniteInput(
            None,
            None,
            f"{neuron_name} input current J is NaN or inf in layer {layer_name!r}; check "
            "the weights and inputs feeding this layer",
        )


def lowpass_coefficients(tau: float, dt: float) -> tuple[float, float]:
    """``(a, b)`` of nengo's zero-order-hold Lowpass, ``y[t] = a y[t-1] + b x[t]``.

    Computed as NengoDL's Lowpass builder does, for bit-equal results.

    Returns
    -------
    a, b : float
    """
    if tau <= 0.03 * dt:
        return 0.0, 1.0
    num, den, _ = cont2discrete(([1.0], [tau, 1.0]), dt, method="zoh")
    num = num.flatten()
    num = num[1:] if num[0] == 0 else num
    return float(-den[1]), float(num[0])


class Lowpass(tf.keras.layers.Layer):
    """nengo's ``Lowpass(tau)`` over the time axis of ``(batch, time, ...)`` inputs.

    ``delay=True`` also shifts the output one step later, as a synapse on a nengo
    connection does (its filtered value reaches the post-synaptic neurons in the
    next step). A ``bias`` (per channel, a weight) is added after the filter, as a
    nengo layer's bias arrives unfiltered; ``train_tau`` makes ``tau`` a weight.
    """

    def __init__(
        self,
        tau: float,
        dt: float = 0.001,
        delay: bool = False,
        bias=None,
        train_tau: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.tau, self.dt, self.delay = float(tau), float(dt), delay
        self.bias_init, self.train_tau = bias, train_tau

    def build(self, input_shape):
        self.filter = SynapseFilter(self.tau, self.dt, self.bias_init, self.train_tau, self.dtype)
        self.filter.build_weights(self)
        super().build(input_shape)

    def call(self, x):
        a, b = self.filter.coefficients()
        # a loop over time, not unrolled: XLA compiles it in constant time
        ys = tf.scan(
            lambda y, x_t: a * y + b * x_t,
            tf.experimental.numpy.moveaxis(x, 1, 0),
            initializer=tf.zeros_like(x[:, 0]),
        )
        y = tf.experimental.numpy.moveaxis(ys, 0, 1)
        if self.delay:
            y = tf.concat([tf.zeros_like(y[:, :1]), y[:, :-1]], axis=1)
        return y if self.filter.bias is None else y + self.filter.bias

    @property
    def trains_synapse(self) -> bool:
        return self.train_tau

    @property
    def synapse_weights(self) -> tuple:
        """The trained ``(bias, tau)`` (bias None without one, tau None if fixed).

        Returns
        -------
        bias, tau : np.ndarray or None, float or None
        """
        bias = None if self.filter.bias is None else self.filter.bias.numpy()
        return bias, (self.filter.current_tau() if self.train_tau else None)

    def get_config(self):
        return dict(
            super().get_config(),
            tau=self.tau,
            dt=self.dt,
            delay=self.delay,
            bias=None if self.bias_init is None else np.asarray(self.bias_init).tolist(),
            train_tau=self.train_tau,
        )


class InputEncoding(tf.keras.layers.Layer):
    """Images shown over time ``(batch, time, ...)``, pixel values in [0, 1], as input spikes.

    * ``analog``: the pixel value at every step (a constant current; the default);
    * ``poisson``: a Poisson count with mean the pixel value at every step;
    * ``bernoulli``: one spike with probability the pixel value at every step;
    * ``latency``: one spike per pixel, at step ``round((1 - x) (T - 1))`` of the
      ``T`` steps (brighter is earlier; black pixels never fire).

    Random encodings draw from a ``tf.random.Generator`` seeded with ``seed``, so a
    run repeated from a new layer gives the same spikes.
    """

    def __init__(self, kind: str = "analog", seed: int | None = 0, **kwargs):
        super().__init__(**kwargs)
        if kind not in ENCODINGS:
            raise ValueError(f"encoding must be one of {', '.join(ENCODINGS)}; got {kind!r}")
        self.kind, self.seed = kind, seed
        self.generator = (
            tf.random.Generator.from_seed(seed or 0) if kind in ("poisson", "bernoulli") else None
        )

    def call(self, x):
        if self.kind == "analog":
            return x
        if self.kind == "poisson":
            seed = self.generator.make_seeds(1)[:, 0]
            return tf.random.stateless_poisson(tf.shape(x), seed, x, dtype=self.dtype)
        if self.kind == "bernoulli":
            return tf.cast(self.generator.uniform(tf.shape(x), dtype=self.dtype) < x, self.dtype)
        n_steps = tf.shape(x)[1]
        step = tf.cast(tf.range(n_steps), self.dtype)
        step = tf.reshape(step, tf.concat([[1, n_steps], tf.ones(tf.rank(x) - 2, tf.int32)], 0))
        fire_at = tf.round((1.0 - x) * tf.cast(n_steps - 1, self.dtype))
        return tf.cast((step == fire_at) & (x > 0), self.dtype)

    def get_config(self):
        return dict(super().get_config(), kind=self.kind, seed=self.seed)
