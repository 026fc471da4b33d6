"""Rate-based training of converted networks, with per-epoch checkpoints and resume.

The Keras model's ReLUs are swapped for the chosen neuron type by
`nengo_dl.Converter`; `sim.fit` then trains on the neuron type's differentiable rate
curve (its NengoDL ``training_step``), so the spiking network evaluated afterwards
computes what was trained. Models with batch norm or dropout are first trained in
Keras and folded (`models.fold_for_conversion`).
"""

from __future__ import annotations

import copy
import json
import logging
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nengo
import nengo_dl
import numpy as np
import tensorflow as tf
from nengo.transforms import SparseMatrix
from nengo_dl import compat
from nengo_mif.networks import checkpoint
from nengo_mif.networks.data import Dataset, load_dataset
from nengo_mif.networks.models import build_model, fold_for_conversion, needs_folding
from nengo_mif.networks.neuron_types import neuron_type

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    dataset: str = "mnist-5k"
    data_dir: str | None = None
    model: str = "mnist_cnn"
    neuron: str = "mif"
    epochs: int = 5
    keras_epochs: int = 0  # Keras pre-training (needed for batch-norm models)
    batch_size: int = 50
    learning_rate: float = 1e-3
    smoothing: float | None = 0.01  # rate-curve smoothing at the rheobase (lif_smoothing)
    rate_reg: float = 0.0  # weight of the firing-rate regulariser (0: off)
    target_rate: float = 250.0  # Hz, for the regulariser
    max_train: int | None = None  # use only the first N training images
    validation: int = 0  # hold out the last N training images (for tuning), never trained on
    seed: int = 0
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1; got {getattr(self, name)}")
        if self.keras_epochs < 0:
            raise ValueError(f"keras_epochs must be >= 0; got {self.keras_epochs}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0; got {self.learning_rate}")
        neuron_type(self.neuron)  # validates the name


def seed_everything(seed: int) -> None:
    tf.keras.utils.set_random_seed(seed)


def flat(x: np.ndarray) -> np.ndarray:
    """Images as NengoDL wants them: (n, n_steps=1, pixels)."""
    return x.reshape(len(x), 1, -1)


def neuron_layers(model: tf.keras.Model) -> list[tf.keras.layers.Layer]:
    """Layers whose ReLU becomes a population of neurons."""
    return [layer for layer in model.layers
            if getattr(layer, "activation", None) in (tf.nn.relu, tf.keras.activations.relu)]


@dataclass
class Converted:
    """A Keras model converted to Nengo, with the probes the package uses."""

    model: tf.keras.Model
    converter: nengo_dl.Converter
    input: nengo.Node
    output: nengo.Probe
    layer_probes: dict[str, nengo.Probe]

    @property
    def net(self) -> nengo.Network:
        return self.converter.net


def threshold(kind: nengo.neurons.NeuronType) -> float:
    """Input current at which a neuron type starts to fire (ReLU's kink is at 0)."""
    if hasattr(kind, "rheobase"):
        return kind.rheobase()
    return 1.0 if isinstance(kind, (nengo.LIF, nengo.LIFRate)) else 0.0


def convert(
    model: tf.keras.Model,
    neuron: str | nengo.neurons.NeuronType,
    synapse: float | None = None,
    scale_firing_rates: float | None = None,
    smoothing: float | None = None,
    probe_layers: bool = False,
    gain_factor: float = 1.0,
) -> Converted:
    """Convert ``model`` with every ReLU swapped for the named neuron type.

    Each layer's bias is moved onto a connection from a constant node, so it scales
    with ``scale_firing_rates`` exactly like the weights (trained parameters then
    load into a network of any scale), and each neuron's own bias is fixed at its
    type's threshold: the Keras pre-activation ``z`` drives ``J = J_th + scale * z``,
    and ``z = 0`` sits at the firing threshold, as for ReLU. ``gain_factor`` further
    multiplies every neuron's input gain (used when mapping to another neuron type).
    """
    kind = neuron if isinstance(neuron, nengo.neurons.NeuronType) else neuron_type(neuron)
    scale = scale_firing_rates or 1.0
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Firing rate scaling")
        converter = nengo_dl.Converter(
            model,
            swap_activations={tf.nn.relu: kind},
            scale_firing_rates=scale_firing_rates,
            synapse=None if synapse is None else nengo.Lowpass(synapse),
        )
    j_th = threshold(kind)
    out_layer = model.layers[-1]
    with converter.net:
        nengo_dl.configure_settings(lif_smoothing=smoothing, stateful=False, trainable=None)
        for ens in converter.net.all_ensembles:
            if isinstance(ens.bias, np.ndarray):
                bias_node = nengo.Node([1.0], label=f"{ens.label}.bias")
                nengo.Connection(bias_node, ens.neurons, synapse=None,
                                 transform=(ens.bias / scale)[:, None])
            ens.bias = np.full(ens.n_neurons, j_th)
            if gain_factor != 1.0:
                ens.gain = nengo.dists.Choice([scale * gain_factor])
            converter.net.config[ens.neurons].trainable = False
        output = converter.outputs[out_layer.output]
        if synapse is not None:
            output.synapse = nengo.Lowpass(synapse)
        probes = {}
        if probe_layers:
            for layer in neuron_layers(model):
                probes[layer.name] = nengo.Probe(converter.layers[layer.output],
                                                 label=layer.name)
    return Converted(model, converter, converter.inputs[model.input], output, probes)


def conversion_model(config: TrainConfig, input_shape, n_classes) -> tf.keras.Model:
    """The (untrained) Keras model whose structure the converted network has."""
    model = build_model(config.model, input_shape, n_classes)
    return fold_for_conversion(model) if needs_folding(model) else model


def _keras_pretrain(config: TrainConfig, data: Dataset, run_dir: Path) -> tf.keras.Model:
    model = build_model(config.model, data.input_shape, data.n_classes)
    weights = run_dir / "keras.weights.h5"
    done_file = run_dir / "keras_epochs.json"
    done = json.loads(done_file.read_text()) if done_file.exists() else 0
    if done and weights.exists():
        model.load_weights(weights)
    model.compile(tf.keras.optimizers.Adam(config.learning_rate),
                  tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    for epoch in range(done, config.keras_epochs):
        model.fit(data.x_train, data.y_train, batch_size=config.batch_size, epochs=1,
                  verbose=0)
        tmp = run_dir / ".keras.weights.tmp.h5"
        model.save_weights(tmp)
        tmp.replace(weights)
        checkpoint.atomic_write_json(done_file, epoch + 1)
        log.info("keras pre-training epoch %d/%d done", epoch + 1, config.keras_epochs)
    return fold_for_conversion(model) if needs_folding(model) else model


def _compile(sim: nengo_dl.Simulator, conv: Converted, config: TrainConfig, kind):
    losses = {conv.output: tf.losses.SparseCategoricalCrossentropy(from_logits=True)}
    weights = {conv.output: 1.0}
    if config.rate_reg > 0:
        target = config.target_rate * getattr(kind, "amplitude", 1.0)
        for probe in conv.layer_probes.values():
            losses[probe] = _rate_loss(target)
            weights[probe] = config.rate_reg
    sim.compile(optimizer=tf.optimizers.Adam(config.learning_rate), loss=losses,
                loss_weights=weights, metrics={conv.output: "accuracy"})


def _rate_loss(target: float):
    def rate_mse(_, y_pred):  # the target is a constant, not data
        return tf.reduce_mean(tf.square(y_pred - target), axis=-1)
    return rate_mse


def _targets(conv: Converted, y: np.ndarray) -> dict:
    targets = {conv.output: y.reshape(len(y), 1, 1)}
    for probe in conv.layer_probes.values():
        targets[probe] = np.zeros((len(y), 1, 1), dtype="float32")
    return targets


def run_config(run_dir: str | Path) -> TrainConfig:
    """The training configuration of a run directory (clear error if there is none)."""
    state = checkpoint.load_state(run_dir)
    if state is None:
        raise FileNotFoundError(f"{run_dir}: no state.json; run `nengo-mif train` first "
                                "or point at the right --run-dir")
    return TrainConfig(**state["config"])


def training_data(config: TrainConfig) -> Dataset:
    """The dataset with the validation images taken out of its training set."""
    data = load_dataset(config.dataset, config.data_dir)
    if config.validation:
        data.x_train, data.y_train = (data.x_train[:-config.validation],
                                      data.y_train[:-config.validation])
    return data


def validation_data(config: TrainConfig) -> Dataset:
    """The held-out validation images as a test set (for choosing settings)."""
    if not config.validation:
        raise ValueError("this run holds out no validation images (validation=0)")
    data = load_dataset(config.dataset, config.data_dir)
    return Dataset(data.name, data.x_train[:-config.validation],
                   data.y_train[:-config.validation], data.x_train[-config.validation:],
                   data.y_train[-config.validation:],
                   f"{config.validation} validation images held out of training")


def train(config: TrainConfig, run_dir: str | Path, resume: bool = False,
          verbose: bool = True) -> dict:
    """Train ``config`` into ``run_dir``; with ``resume``, continue after the last epoch.

    Returns the run's state (config, history, timings). Each finished epoch is on
    disk before the next starts; a fixed seed gives the same result.
    """
    run_dir = Path(run_dir)
    state = checkpoint.load_state(run_dir)
    if state is not None and not resume:
        raise FileExistsError(
            f"{run_dir} already holds a training run ({state['epochs_done']} epochs); "
            "pass --resume to continue it or choose another --run-dir"
        )
    if state is not None and _without_epochs(state["config"]) != _without_epochs(asdict(config)):
        raise ValueError(
            f"{run_dir} was trained with a different configuration; resume with the "
            "same settings (see its state.json) or choose another --run-dir"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(config.seed)
    data = training_data(config)
    if config.max_train:
        data.x_train, data.y_train = data.x_train[:config.max_train], data.y_train[:config.max_train]

    keras_model = (_keras_pretrain(config, data, run_dir) if config.keras_epochs
                   else conversion_model(config, data.input_shape, data.n_classes))
    kind = neuron_type(config.neuron)
    conv = convert(keras_model, config.neuron, smoothing=config.smoothing,
                   probe_layers=config.rate_reg > 0)
    state = state or dict(config=asdict(config), epochs_done=0, history=[],
                          input_shape=list(data.input_shape), n_classes=data.n_classes,
                          test_source=data.test_source)

    arrays = None
    if state["epochs_done"]:
        _, arrays = checkpoint.load_params(run_dir)
        apply_weights(conv, arrays)

    n = (len(data.x_train) // config.batch_size) * config.batch_size
    x_train, y_train = flat(data.x_train[:n]), data.y_train[:n]

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="No GPU support detected")
        sim = nengo_dl.Simulator(conv.net, minibatch_size=config.batch_size,
                                 seed=config.seed, progress_bar=False)
    with sim:
        _compile(sim, conv, config, kind)
        if arrays is not None:
            _restore_optimizer(sim, arrays)
        for epoch in range(state["epochs_done"], config.epochs):
            start = time.perf_counter()
            hist = sim.fit({conv.input: x_train}, _targets(conv, y_train), epochs=1,
                           verbose=0)
            seconds = time.perf_counter() - start
            record = dict(epoch=epoch + 1, seconds=seconds,
                          loss=float(hist.history["loss"][-1]),
                          train_accuracy=float(_metric(hist.history, "accuracy")[-1]))
            state["history"].append(record)
            state["epochs_done"] = epoch + 1
            checkpoint.save_epoch(run_dir, state, trained_weights(sim, conv))
            if verbose:
                print(f"epoch {epoch + 1}/{config.epochs}: loss {record['loss']:.4f}, "
                      f"train accuracy {record['train_accuracy']:.4f} (rate), "
                      f"{seconds:.1f} s", flush=True)
    return state


def _without_epochs(config: dict) -> dict:
    # more epochs is what resuming is for; every other setting must match
    return {k: v for k, v in config.items() if k != "epochs"}


def _metric(results: dict, name: str):
    for key, value in results.items():
        if key.endswith(name):
            return value
    raise KeyError(name)


def _weighted_connections(conv: Converted) -> list[nengo.Connection]:
    # creation order is deterministic for a given Keras model, whatever the
    # synapse, scale or probes, so it identifies each connection across builds
    return [c for c in conv.net.all_connections if compat.conn_has_weights(c)]


def trained_weights(sim: nengo_dl.Simulator, conv: Converted) -> dict[str, np.ndarray]:
    """The trained weights of every connection, and the optimiser's state."""
    conns = _weighted_connections(conv)
    values = sim.data.get_params(*[(c, "weights") for c in conns])
    arrays = {f"conn{i:03d}": np.asarray(v) for i, v in enumerate(values)}
    optimizer = sim.keras_model.optimizer
    if optimizer is not None:
        for i, v in enumerate(tf.keras.backend.batch_get_value(optimizer.variables)):
            arrays[f"opt{i:03d}"] = v
    return arrays


def apply_weights(conv: Converted, arrays: dict[str, np.ndarray]) -> None:
    """Write trained weights into the network's connections (before it is built)."""
    conns = _weighted_connections(conv)
    saved = sorted(k for k in arrays if k.startswith("conn"))
    if len(saved) != len(conns):
        raise ValueError(f"the checkpoint has {len(saved)} weighted connections but "
                         f"this network has {len(conns)}; was it trained with another "
                         "model or dataset?")
    for conn, key in zip(conns, saved):
        weights = arrays[key]
        if np.shape(weights) != _weight_shape(conn):
            raise ValueError(f"checkpoint weights {key} have shape {np.shape(weights)}, "
                             f"connection {conn} needs {_weight_shape(conn)}")
        conn.transform = _with_weights(conn.transform, weights)


def _with_weights(transform, weights: np.ndarray):
    """A copy of ``transform`` holding ``weights`` (as nengo_dl's get_nengo_params)."""
    if isinstance(transform, nengo.Convolution):
        transform = copy.copy(transform)
        nengo.Convolution.init.data[transform] = weights  # bypass read-only init
        return transform
    if isinstance(transform, nengo.Sparse):
        init = transform.init
        indices = (init.indices if isinstance(init, SparseMatrix)
                   else np.stack((init.tocoo().row, init.tocoo().col), axis=-1))
        transform = copy.copy(transform)
        nengo.Sparse.init.data[transform] = SparseMatrix(indices, weights, init.shape)
        return transform
    return weights


def _weight_shape(conn: nengo.Connection) -> tuple[int, ...]:
    t = conn.transform
    if isinstance(t, nengo.Convolution):
        return tuple(t.kernel_shape)
    if isinstance(t, nengo.Sparse):
        init = t.init
        return np.shape(init.data if isinstance(init, SparseMatrix) else init.tocoo().data)
    return tuple(t.shape) if hasattr(t, "shape") else np.shape(t.init)


def _restore_optimizer(sim: nengo_dl.Simulator, arrays: dict[str, np.ndarray]) -> None:
    opt = sim.keras_model.optimizer
    opt.build(sim.keras_model.trainable_weights)
    saved = sorted(k for k in arrays if k.startswith("opt"))
    if len(saved) == len(opt.variables):
        tf.keras.backend.batch_set_value([(v, arrays[k]) for v, k in zip(opt.variables, saved)])
    else:
        log.warning("optimizer state not restored (layout changed); continuing fresh")


def load_trained(conv: Converted, run_dir: str | Path) -> dict:
    """Put a run's trained weights into ``conv``; returns the run's state."""
    state, arrays = checkpoint.load_params(run_dir)
    apply_weights(conv, arrays)
    return state
