"""Training on the Keras engine: the rate network, and the spiking network through time.

`RateFit` fits `convert.rate_model` with Keras. `SpikeAwareFit` runs the spiking
network (`convert.spiking_model`) over ``n_steps`` steps: forward, the spikes exactly
as evaluation runs them; backward, as its `ThroughTime` says (straight-through or
BPTT). Each fit trains an epoch at a time and hands back its weights in the Keras
format.
"""

from __future__ import annotations

import numpy as np

from nengo_mif._quiet import import_tensorflow
from nengo_mif.engines import TrainSettings, amplitude_of
from nengo_mif.keras.convert import rate_model, rate_neuron_layers, spiking_model
from nengo_mif.keras.surrogates import ThroughTime
from nengo_mif.registry import with_amplitude

tf = import_tensorflow()


class RateFit:
    """Rate training: ``model`` with every ReLU replaced by ``neuron``'s rate curve.

    Every layer's input current is ``J = J_th + scale * gain_factor * z`` and its
    output ``amplitude / scale * r(J)`` (a Loihi fit's gain is not part of the
    firing-rate scale, so the amplitude carries it back).
    """

    def __init__(
        self, model, neuron, config: TrainSettings, scale: float = 1.0, gain_factor: float = 1.0
    ):
        kind = (
            neuron
            if gain_factor == 1
            else with_amplitude(neuron, amplitude_of(neuron) * gain_factor)
        )
        scale = scale * gain_factor
        self.model = model
        self.rate = rate_model(model, kind, smoothing=config.smoothing, scale=scale)
        if config.rate_reg > 0:
            target = config.target_rate * amplitude_of(kind, scale)
            for layer in rate_neuron_layers(self.rate).values():
                self.rate.add_loss(
                    config.rate_reg * tf.reduce_mean(tf.square(layer.output - target))
                )
        self.rate.compile(
            tf.keras.optimizers.Adam(config.learning_rate),
            tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        self.batch_size = config.batch_size

    def fit_epoch(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        hist = self.rate.fit(x, y, batch_size=self.batch_size, epochs=1, verbose=0)
        return float(hist.history["loss"][-1]), float(hist.history["accuracy"][-1])

    def weights(self) -> dict[str, list[np.ndarray]]:
        # the rate model's weighted layers keep the original layers' names
        return {
            layer.name: self.rate.get_layer(layer.name).get_weights()
            for layer in self.model.layers
            if layer.get_weights()
        }

    def synapses(self) -> dict[str, float]:
        return {}

    def neuron_params(self) -> dict[str, dict[str, float]]:
        return {}

    def close(self) -> None:
        pass

    @property
    def optimizer(self):
        return self.rate.optimizer

    @property
    def trainable(self):
        return self.rate.trainable_weights


class SpikeAwareFit:
    """Training through time (Keras engine): the spiking network over ``n_steps`` steps.

    Forward, the trained type's spiking counterpart runs step by step with its
    synapses, exactly as `evaluate` runs it. Backward, as ``through_time`` says
    (`nengo_mif.keras.surrogates.ThroughTime`): by default each spike takes the
    slope of the (smoothed) rate curve at the present input (straight-through, as
    keras-spiking's ``spiking_aware_training``) and gradients cross time through the
    synapse filters only; with ``method="bptt"`` they also flow through every
    neuron's state, each spike taking a surrogate derivative. The loss reads the
    filtered output averaged over the last ``readout_steps`` steps, at the last step and at each of ``train_readouts``
    (the mean of their cross-entropies: a net trained to answer early); the
    firing-rate regulariser pulls each neuron's mean rate toward ``target_rate`` and
    ``spike_reg`` charges every Hz of mean rate.
    ``synapses`` (per layer, from a resumed run) override ``config.synapse``, and
    ``layer_params`` (per layer, a run's trained neuron constants) the type's own;
    with ``config.train_constants``, BPTT trains those constants too.
    """

    def __init__(
        self,
        model,
        kind,
        config: TrainSettings,
        scale: float,
        synapses: dict | None = None,
        through_time: ThroughTime | None = None,
        layer_params: dict | None = None,
    ):
        self.net = spiking_model(
            model,
            kind,
            config.n_steps,
            synapse=synapses or config.synapse,
            scale=scale,
            seed=config.seed,
            encoding=config.encoding,
            smoothing=config.smoothing,
            train_synapses=config.train_synapses,
            through_time=through_time,
            layer_params=layer_params,
            train_constants=config.train_constants
            and through_time is not None
            and through_time.method == "bptt",
        )
        inner = self.net.model
        inp = tf.keras.Input(model.input_shape[1:], name="image")
        tiled = tf.keras.layers.Lambda(
            lambda x: tf.repeat(x[:, None], config.n_steps, axis=1), name="show_for_n_steps"
        )(inp)
        regularised = config.rate_reg > 0 or config.spike_reg > 0
        # the neuron layers' own (time-major) outputs: only where a regulariser reads them
        spikes = [self.net.neuron_layer(name).output[0] for name in self.net.neuron_layers]
        probe = tf.keras.Model(inner.input, [inner.outputs[0], *(spikes if regularised else [])])
        out, *layer_spikes = tf.nest.flatten(probe(tiled))
        ends = sorted({*(config.train_readouts or ()), config.n_steps})
        logits = tf.stack(
            [tf.reduce_mean(out[:, max(0, e - config.readout_steps) : e], axis=1) for e in ends],
            axis=1,
        )  # (batch, readouts, classes); the last is the step evaluation reads
        self.model = tf.keras.Model(inp, logits)
        amplitude = amplitude_of(kind, scale)
        for s in layer_spikes:
            rate = tf.reduce_mean(s, axis=0)  # per neuron, in output units (amplitude x Hz)
            if config.rate_reg > 0:
                target = config.target_rate * amplitude
                self.model.add_loss(config.rate_reg * tf.reduce_mean(tf.square(rate - target)))
            if config.spike_reg > 0:
                self.model.add_loss(config.spike_reg * tf.reduce_mean(rate) / amplitude)
        self.model.compile(
            tf.keras.optimizers.Adam(config.spike_aware_learning_rate or config.learning_rate),
            _loss_over_readouts,
            metrics=[_accuracy_at_last_readout],
        )
        self.batch_size = config.batch_size

    def fit_epoch(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        hist = self.model.fit(x, y, batch_size=self.batch_size, epochs=1, verbose=0)
        acc = hist.history["_accuracy_at_last_readout"][-1]
        return float(hist.history["loss"][-1]), float(acc)

    def weights(self) -> dict[str, list[np.ndarray]]:
        return self.net.keras_weights()

    def synapses(self) -> dict[str, float]:
        """The trained synapse time constants by layer (empty if they are fixed).

        Returns
        -------
        taus : dict of float
        """
        return self.net.synapses()

    def neuron_params(self) -> dict[str, dict[str, float]]:
        """Per layer, the trained neuron constants (empty if they are fixed).

        Returns
        -------
        params : dict
        """
        return self.net.trained_constants()

    def close(self) -> None:
        pass

    @property
    def optimizer(self):
        return self.model.optimizer

    @property
    def trainable(self):
        return self.model.trainable_weights


def _loss_over_readouts(y, logits):
    y = tf.repeat(tf.reshape(y, (-1, 1)), tf.shape(logits)[1], axis=1)
    return tf.keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)


def _accuracy_at_last_readout(y, logits):
    return tf.keras.metrics.sparse_categorical_accuracy(tf.reshape(y, (-1,)), logits[:, -1])
