"""Each neuron type's rate curve and spiking step on tensors: the Keras engine's maths.

Follows `keras_spiking.layers`' split of maths from layers: a *maths* object per
neuron type (found by MRO, as `nengo_loihi.neurons` finds rate functions) holds the
rate curve and the spiking step; the layers (`nengo_mif.keras.activations`) wrap
it. What it computes is what NengoDL computes for the same type: MIF and MIF2 run
the functions their class declares (`MIF.dynamics`) from `nengo_mif.dynamics`
through `nengo_mif.tf_ops.TFOps`, as their NengoDL builders do; LIF and spiking
ReLU run NengoDL's own step and rate formulas (`nengo_dl.neuron_builders`),
operation for operation. Imports TensorFlow and nengo core, never nengo_dl.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable

import nengo
import numpy as np
from nengo.params import iter_params

from nengo_mif._quiet import import_tensorflow
from nengo_mif.defaults import default
from nengo_mif.exceptions import EngineError
from nengo_mif.neurons import MIF, MIF2
from nengo_mif.registry import initial_state, threshold

tf = import_tensorflow()
from nengo_mif.tf_ops import TFOps, smooth_threshold  # noqa: E402

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
    dt: float = default.dt,
) -> NeuronMaths:
    """The maths of ``neuron`` on tensors; a clear error for a type the engine lacks.

    ``dt`` matters only for Loihi's types (their rates are whole numbers of steps).

    Returns
    -------
    maths : NeuronMaths
    """
    if type(neuron).__module__.startswith("nengo_loihi"):
        # registers Loihi's types; imported on demand so that nengo_loihi loads only here
        import nengo_mif.keras.loihi  # noqa: F401
    for cls in type(neuron).__mro__:
        if cls in _MATHS:
            maths = _MATHS[cls]
            extra = sorted(set(iter_params(neuron)) - set(iter_params(cls)))
            if extra:
                # a subclass with more parameters (AdaptiveLIF's tau_n, inc_n) would
                # silently run as its parent
                raise EngineError(
                    f"the Keras engine runs {cls.__name__}, but {type(neuron).__name__} "
                    f"adds {', '.join(extra)}, which it would ignore; use --engine nengo-dl"
                )
            state = tuple(neuron.state) if neuron.spiking else ()
            if maths.state is not None and state not in ((), maths.state):
                # a subclass with more state needs maths of its own
                raise EngineError(
                    f"the Keras engine runs {cls.__name__} with state {maths.state}, but "
                    f"{type(neuron).__name__} has {state}; use --engine nengo-dl for it"
                )
            return maths(neuron, smoothing, dtype, dt)
    raise EngineError(
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
    #: the state variables ``step`` takes, in order (None: whatever the type declares)
    state: tuple[str, ...] | None = None

    def __init__(self, neuron, smoothing, dtype, dt=default.dt):
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

    # ---- training through time (`SpikingCell`, ``ThroughTime(method="bptt")``) ----
    #: how far a spike moves the membrane (threshold units): the reset's gradient
    reset_drop = 1.0

    def step_through_time(self, dt, J, *state):
        """`step` as training through time differentiates it (same forward values).

        Gradients flow through the continuous evolution of the state; the count of
        whole inter-spike intervals (a floor) passes its gradient straight through.
        The first threshold crossing's surrogate is added by the cell, at
        `surrogate_input`.

        Returns
        -------
        n_spikes, *state : tf.Tensor
        """
        return self.step(dt, J, *state)

    def surrogate_input(self, dt, J, *state):
        """The membrane potential relative to threshold that decides the next spike.

        Where the neuron would stand at the end of the step if it had no
        threshold (``> 0``: it crosses); the spike's surrogate derivative is taken
        here.

        Returns
        -------
        u : tf.Tensor
        """
        raise NotImplementedError

    def with_constant(self, value) -> NeuronMaths:
        """These maths with the type's trainable constant (`registry.trainable_constant`)
        set to ``value``, a tensor (a layer's trained constant inside its step).

        Returns
        -------
        maths : NeuronMaths
        """
        raise EngineError(f"{type(self.neuron).__name__} has no trainable constant")

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
    state = ("voltage",)

    def rate(self, J):
        return tf.nn.relu(J)

    def step(self, dt, J, voltage):
        voltage = voltage + tf.nn.relu(J) * dt
        n_spikes = tf.floor(voltage)
        return n_spikes, voltage - n_spikes

    def surrogate_input(self, dt, J, voltage):
        # a spike per whole unit: the nearest threshold is the nearest integer >= 1
        voltage = voltage + tf.nn.relu(J) * dt
        return voltage - tf.maximum(tf.stop_gradient(tf.round(voltage)), 1.0)


@maths_for(nengo.LIF, nengo.LIFRate)
class LIFMaths(NeuronMaths):
    """NengoDL's LIF: `LIFRate` / `SoftLIFRate` for training, `LIFBuilder.step`."""

    state = ("voltage", "refractory_time")

    def __init__(self, neuron, smoothing, dtype, dt=default.dt):
        super().__init__(neuron, smoothing, dtype, dt)
        self.tau_rc = tf.constant(neuron.tau_rc, self.dtype)
        self.tau_ref = tf.constant(neuron.tau_ref, self.dtype)
        self.min_voltage = tf.constant(getattr(neuron, "min_voltage", 0.0), self.dtype)

    def rate(self, J):
        return self.lif_rate(J, self.tau_ref)

    def with_constant(self, value) -> LIFMaths:
        maths = copy.copy(self)
        maths.tau_rc = tf.cast(value, self.dtype)
        return maths

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
        voltage = self._integrate(dt, J, voltage, refractory_time)
        spiked = voltage > 1.0
        refractory_time = tf.where(
            spiked, self._refractory_after_spike(J, voltage, spiked), refractory_time - dt
        )
        voltage = tf.where(spiked, tf.zeros_like(voltage), tf.maximum(voltage, self.min_voltage))
        return tf.cast(spiked, self.dtype), voltage, refractory_time

    def _integrate(self, dt, J, voltage, refractory_time):
        zero = tf.zeros((), self.dtype)
        delta_t = tf.clip_by_value(dt - refractory_time, zero, dt)
        return voltage + (voltage - J) * tf.math.expm1(-delta_t / self.tau_rc)

    def _refractory_after_spike(self, J, voltage, spiked):
        # the spike came part-way through the step; where it did not spike, the
        # branch is unused, and its arguments are kept finite so that its gradient is
        over = tf.where(spiked, 1.0 - voltage, tf.zeros_like(voltage))
        drive = tf.where(spiked, J - 1.0, tf.ones_like(J))
        ratio = over / drive
        # a membrane that reached J within the step gives log1p(-1) = -inf (as NengoDL);
        # its gradient, 0 * inf, must not be computed
        finite = ratio > -1.0
        log = tf.where(finite, tf.math.log1p(tf.where(finite, ratio, 0.0)), -np.inf)
        return self.tau_ref + self.tau_rc * log

    def surrogate_input(self, dt, J, voltage, refractory_time):
        return self._integrate(dt, J, voltage, refractory_time) - 1.0


@maths_for(MIF, MIF2)
class MemristiveMaths(NeuronMaths):
    """The rate curve and step a memristive type declares (``type(neuron).dynamics``).

    The same functions of `nengo_mif.dynamics` that nengo core and the NengoDL
    builder run, on tensors.
    """

    def __init__(self, neuron, smoothing, dtype, dt=default.dt):
        super().__init__(neuron, smoothing, dtype, dt)
        self.circuit = neuron.circuit()
        self.dynamics = type(neuron).dynamics
        #: the ops training through time runs the step with (a differentiable count)
        self.through_time_ops = TFOps(self.dtype, straight_through_count=True)

    def rate(self, J):
        if self.smoothing is not None:
            J = smooth_threshold(J, self.j_th, self.smoothing)
        return self.dynamics.rate(self.circuit, J, self.ops)

    def step(self, dt, J, *state):
        return self.dynamics.step(self.circuit, dt, J, *state, ops=self.ops)

    def with_constant(self, value) -> MemristiveMaths:
        # the capacitance sets the circuit's time constant R_off C (nothing else)
        maths = copy.copy(self)
        tau = tf.cast(value, self.dtype) * float(self.neuron.r_off)
        maths.circuit = dataclasses.replace(self.circuit, tau=tau)
        return maths

    @property
    def reset_drop(self) -> float:
        # a spike switches M1 on, and the membrane falls from threshold to v_hold
        return 1.0 - float(self.circuit.v_hold)

    def step_through_time(self, dt, J, *state):
        return self.dynamics.step(self.circuit, dt, J, *state, ops=self.through_time_ops)

    def surrogate_input(self, dt, J, voltage, memristor, *m2):
        # off-state relaxation over the whole step, from v_hold if M1 is on (it
        # switches off within microseconds): where the membrane heads without firing
        c = self.circuit
        v0 = self.ops.where(memristor > 0.5, c.v_hold + tf.zeros_like(voltage), voltage)
        g, drive = 1.0, J
        if c.has_m2:
            g2 = self.ops.where(m2[0] > 0.5, c.g2_on, c.g2_off)
            g, drive = 1.0 + g2, J + g2 * c.e_reset
        v_inf = drive / g
        return v_inf + (v0 - v_inf) * tf.exp(tf.cast(-g * dt / c.tau, self.dtype)) - 1.0


def neuron_config(neuron: nengo.neurons.NeuronType) -> dict:
    return dict(
        type=type(neuron).__name__,
        params={p: getattr(neuron, p) for p in iter_params(neuron) if p != "initial_state"},
    )


def neuron_from_config(config) -> nengo.neurons.NeuronType:
    if isinstance(config, nengo.neurons.NeuronType):
        return config
    classes, todo = {}, [nengo.neurons.NeuronType]
    while todo:  # every neuron class defined so far, by name
        cls = todo.pop()
        classes.setdefault(cls.__name__, cls)
        todo.extend(cls.__subclasses__())
    if config["type"] not in classes:
        raise EngineError(f"no neuron type {config['type']!r} is defined; import its package")
    return classes[config["type"]](**config["params"])


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
