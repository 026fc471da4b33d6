"""Input encodings: how an image enters a spiking network over time (a Keras layer)."""

from __future__ import annotations

from nengo_mif._quiet import import_tensorflow
from nengo_mif.exceptions import ConfigError
from nengo_mif.names import ENCODINGS

tf = import_tensorflow()


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
            raise ConfigError(f"encoding must be one of {', '.join(ENCODINGS)}; got {kind!r}")
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
