"""`nengo_mif.dynamics` array operations on TensorFlow tensors.

Shared by the NengoDL builders and the Keras engine, so both run the same maths as
nengo core (which uses `nengo_mif.dynamics.NUMPY_OPS`). Imports TensorFlow only.
"""

from __future__ import annotations

import tensorflow as tf


class TFOps:
    """The array operations `nengo_mif.dynamics` needs, on tensors of one dtype."""

    exp = staticmethod(tf.exp)
    log1p = staticmethod(tf.math.log1p)
    logical_and = staticmethod(tf.logical_and)
    logical_or = staticmethod(tf.logical_or)
    logical_not = staticmethod(tf.logical_not)

    floor = staticmethod(tf.floor)

    def __init__(self, dtype="float32", straight_through_count: bool = False):
        self.dtype = tf.as_dtype(dtype)
        self.straight_through_count = straight_through_count

    def count(self, periods, whole):
        """``whole = floor(periods)``; with ``straight_through_count``, ``periods``' gradient.

        The dynamics count whole inter-spike intervals with a floor; training through
        time passes the count's gradient straight through, so the number of further
        spikes in a step answers to the input and the state continuously. Exactly
        ``whole`` on the forward pass (``x - x`` is 0).
        """
        if not self.straight_through_count:
            return whole
        return tf.stop_gradient(whole) + (periods - tf.stop_gradient(periods))

    def _t(self, x):
        return x if tf.is_tensor(x) else tf.constant(x, dtype=self.dtype)

    def where(self, cond, a, b):
        return tf.where(cond, self._t(a), self._t(b))

    def minimum(self, a, b):
        return tf.minimum(self._t(a), self._t(b))

    def maximum(self, a, b):
        return tf.maximum(self._t(a), self._t(b))

    def full_like(self, x, value):
        return tf.zeros_like(x) + tf.cast(value, x.dtype)


def smooth_threshold(J, j_th, sigma):
    """``J`` with the rate curve's kink at ``j_th`` smoothed over ``sigma`` (SoftLIF-style).

    ``j_th + sigma softplus((J - j_th) / sigma)``: what NengoDL's ``lif_smoothing``
    does to LIF, for any type with a threshold, so gradients exist below it.

    Returns
    -------
    J : tf.Tensor
    """
    return j_th + sigma * tf.nn.softplus((J - j_th) / sigma)
