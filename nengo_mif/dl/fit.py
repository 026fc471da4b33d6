"""Rate training on the NengoDL engine: the converted network in ``nengo_dl.Simulator.fit``."""

from __future__ import annotations

import nengo_dl
import numpy as np

from nengo_mif._quiet import import_tensorflow
from nengo_mif.dl.conversion import convert, flat, keras_weights_from_sim
from nengo_mif.engines import TrainSettings, amplitude_of
from nengo_mif.exceptions import NonFiniteInput

tf = import_tensorflow()


class RateFit:
    """The converted network; input currents ``J_th + scale * gain_factor * z``."""

    def __init__(
        self, model, kind, config: TrainSettings, scale: float = 1.0, gain_factor: float = 1.0
    ):
        self.conv = convert(
            model,
            kind,
            smoothing=config.smoothing,
            scale_firing_rates=None if scale == 1 and gain_factor == 1 else scale,
            gain_factor=gain_factor,
            probe_layers="neurons" if config.rate_reg > 0 else None,
        )
        self.sim = nengo_dl.Simulator(
            self.conv.net, minibatch_size=config.batch_size, seed=config.seed, progress_bar=False
        )
        losses = {self.conv.output: tf.losses.SparseCategoricalCrossentropy(from_logits=True)}
        weights = {self.conv.output: 1.0}
        target = config.target_rate * amplitude_of(kind, scale)
        for probe in self.conv.layer_probes.values():
            losses[probe] = lambda _, y_pred: tf.reduce_mean(tf.square(y_pred - target), axis=-1)
            weights[probe] = config.rate_reg
        self.sim.compile(
            optimizer=tf.optimizers.Adam(config.learning_rate),
            loss=losses,
            loss_weights=weights,
            metrics={self.conv.output: "accuracy"},
        )

    def fit_epoch(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        targets = {self.conv.output: y.reshape(len(y), 1, 1)}
        for probe in self.conv.layer_probes.values():
            targets[probe] = np.zeros((len(y), 1, 1), dtype="float32")
        try:
            hist = self.sim.fit({self.conv.input: flat(x)}, targets, epochs=1, verbose=0)
        except tf.errors.InvalidArgumentError as e:
            # the builders' finiteness assertion: its message is the first line that
            # names the layer; TensorFlow appends kilobytes of graph after it
            raise NonFiniteInput(_assertion_message(e)) from None
        acc = next(v for k, v in hist.history.items() if k.endswith("accuracy"))
        return float(hist.history["loss"][-1]), float(acc[-1])

    def weights(self) -> dict[str, list[np.ndarray]]:
        return keras_weights_from_sim(self.sim, self.conv)

    @property
    def optimizer(self):
        return self.sim.keras_model.optimizer

    @property
    def trainable(self):
        return self.sim.keras_model.trainable_weights

    def close(self):
        self.sim.close()

    def synapses(self) -> dict[str, float]:
        return {}

    def neuron_params(self) -> dict[str, dict[str, float]]:
        return {}


def _assertion_message(error: Exception) -> str:
    message = getattr(error, "message", str(error))
    for line in message.splitlines():
        if "NaN or inf" in line:
            return line.split("] ")[-1].strip("[] ")
    return "an input current became NaN or inf; lower --learning-rate or raise --smoothing"
