"""Synapses over time: nengo's ``Lowpass`` on a connection, as Keras layers and cell state.

`SynapseFilter` is the filter a spiking cell carries in its own time loop;
`Lowpass` runs the same filter over a whole ``(batch, time, ...)`` tensor.
Both use nengo's zero-order-hold coefficients, bit-equal to NengoDL's.
"""

from __future__ import annotations

import numpy as np
from nengo.utils.filter_design import cont2discrete

from nengo_mif._quiet import import_tensorflow
from nengo_mif.defaults import default
from nengo_mif.exceptions import EngineError
from nengo_mif.settings import check_argument

tf = import_tensorflow()


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

    @staticmethod
    def advance(x, y, a, b, bias=None):
        """``(z, y')``: the value reaching the neurons now (the filter's value before
        this step's input, plus the bias) and the filter's next value.

        Returns
        -------
        z, y : tf.Tensor
        """
        return (y if bias is None else y + bias), lowpass_update(y, x, a, b)

    def current_tau(self) -> float:
        return self.tau if self.tau_weight is None else float(self.tau_weight.numpy())


def lowpass_update(y, x, a, b):
    """nengo's zero-order-hold Lowpass: ``y' = a y + b x``."""
    return a * y + b * x


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
    With ``time_major`` the inputs are ``(time, batch, ...)``.
    """

    def __init__(
        self,
        tau: float,
        dt: float = default.dt,
        delay: bool = False,
        bias=None,
        train_tau: bool = False,
        source: str | None = None,
        time_major: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.time_major = time_major
        check_argument("Lowpass", "tau", tau, low=0, low_open=True)
        check_argument("Lowpass", "dt", dt, low=0, low_open=True)
        self.source = source  # the layer it feeds ("probe": the output)
        self.tau, self.dt, self.delay = float(tau), float(dt), delay
        self.bias_init, self.train_tau = bias, train_tau

    def build(self, input_shape):
        check_time_axis(self, input_shape)
        self.filter = SynapseFilter(self.tau, self.dt, self.bias_init, self.train_tau, self.dtype)
        self.filter.build_weights(self)
        super().build(input_shape)

    def call(self, x):
        a, b = self.filter.coefficients()
        xs = x if self.time_major else tf.experimental.numpy.moveaxis(x, 1, 0)
        # a loop over time, not unrolled: XLA compiles it in constant time
        ys = tf.scan(
            lambda y, x_t: lowpass_update(y, x_t, a, b), xs, initializer=tf.zeros_like(xs[0])
        )
        if self.delay:
            ys = tf.concat([tf.zeros_like(ys[:1]), ys[:-1]], axis=0)
        y = ys if self.time_major else tf.experimental.numpy.moveaxis(ys, 0, 1)
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
            source=self.source,
            time_major=self.time_major,
        )


def check_time_axis(layer: tf.keras.layers.Layer, input_shape) -> None:
    """Layers over time take ``(batch, time, ...)``; a clear error for anything else."""
    shape = tf.TensorShape(input_shape)
    if shape.rank is None or shape.rank < 3:
        raise EngineError(
            f"{type(layer).__name__} {layer.name!r} runs over axis 1 of (batch, time, "
            f"units...) inputs; got shape {tuple(shape) if shape.rank else shape}: add a "
            "time axis (e.g. tf.repeat(x[:, None], n_steps, axis=1))"
        )
