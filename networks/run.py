"""A training run on disk: its directory, configuration, data and trained weights.

Weights are stored in the Keras format (`keras_arrays`): per weighted layer of the
model before neuron swapping, its Keras weights by layer name. Both engines, the
deployment and the Nengo GUI load them the same way: set them on the Keras model
(`Run.keras_model`) and run or convert that.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np
from nengo_mif.networks import checkpoint
from nengo_mif.networks.config import TrainConfig
from nengo_mif.networks.data import Dataset, load_dataset

from nengo_mif.exceptions import ConfigError, RunError

WEIGHT_PREFIX = "w/"


def keras_arrays(weights: dict[str, list[np.ndarray]]) -> dict[str, np.ndarray]:
    """Per-layer weights as flat checkpoint arrays (``w/<layer>/<i>``).

    Returns
    -------
    arrays : dict of np.ndarray
    """
    return {
        f"{WEIGHT_PREFIX}{name}/{i}": np.asarray(w)
        for name, ws in weights.items()
        for i, w in enumerate(ws)
    }


def layer_weights(model) -> dict[str, list[np.ndarray]]:
    """The weights of every weighted layer of a Keras model, by layer name.

    Returns
    -------
    weights : dict
    """
    return {layer.name: layer.get_weights() for layer in model.layers if layer.get_weights()}


def _by_layer(arrays: dict[str, np.ndarray]) -> dict[str, dict[int, np.ndarray]]:
    by_layer: dict[str, dict[int, np.ndarray]] = {}
    for key, value in arrays.items():
        if key.startswith(WEIGHT_PREFIX):
            name, i = key[len(WEIGHT_PREFIX) :].rsplit("/", 1)
            by_layer.setdefault(name, {})[int(i)] = value
    return by_layer


def stored_layers(arrays: dict[str, np.ndarray]) -> set[str]:
    """The names of the layers whose weights checkpoint ``arrays`` hold.

    Returns
    -------
    names : set of str
    """
    return set(_by_layer(arrays))


def set_layer_weights(model, arrays: dict[str, np.ndarray], source: str = "checkpoint") -> None:
    """Put checkpoint arrays into the Keras model's layers (a clear error on mismatch)."""
    by_layer = _by_layer(arrays)
    expected = {layer.name for layer in model.layers if layer.get_weights()}
    if set(by_layer) != expected:
        raise RunError(
            f"{source} holds weights for layers {sorted(by_layer)} but the model "
            f"has {sorted(expected)}; was it trained with another model?"
        )
    for name, ws in by_layer.items():
        layer = model.get_layer(name)
        values = [ws[i] for i in sorted(ws)]
        shapes = [tuple(w.shape) for w in layer.get_weights()]
        if [tuple(v.shape) for v in values] != shapes:
            raise RunError(
                f"{source}: layer {name!r} weights have shapes "
                f"{[v.shape for v in values]}, the model needs {shapes}"
            )
        layer.set_weights(values)


class Run:
    """A run directory and what it holds; data and weights are loaded once, when used."""

    def __init__(self, run_dir: str | Path, config: TrainConfig, state: dict):
        self.run_dir = Path(run_dir)
        self.config = config
        self.state = state

    @classmethod
    def open(cls, run_dir: str | Path) -> Run:
        """The run in ``run_dir``; a clear error if there is none or it is damaged.

        Returns
        -------
        run : Run
        """
        state = checkpoint.load_state(run_dir)
        if state is not None and "params" not in state and state["epochs_done"]:
            raise RunError(
                f"{Path(run_dir) / checkpoint.STATE} records {state['epochs_done']} epochs but "
                "no weights file ('params'); restore the file, or retrain into a new --run-dir"
            )
        if state is None or "params" not in state:
            raise RunError(
                f"{run_dir} holds no finished training epoch (no "
                f"{checkpoint.STATE}); run `nengo-mif train` first or point at "
                "the right --run-dir"
            )
        try:
            config = TrainConfig(**state["config"])
        except (TypeError, ConfigError) as e:
            raise RunError(
                f"{Path(run_dir) / checkpoint.STATE}: its config is not valid "
                f"({e}); retrain into a new --run-dir"
            ) from e
        return cls(run_dir, config, state)

    @cached_property
    def data(self) -> Dataset:
        """The run's dataset, with the validation images taken out of training."""
        return training_data(self.config)

    def arrays(self) -> dict[str, np.ndarray]:
        """The checkpoint's arrays (weights and optimiser state).

        Returns
        -------
        arrays : dict of np.ndarray
        """
        return checkpoint.load_arrays(self.params_path)

    @property
    def neuron_params(self) -> dict[str, dict[str, float]]:
        """Per neuron layer, the neuron constants training set (empty: the type's own)."""
        return self.state.get("neuron_params", {})

    @property
    def params_path(self) -> Path:
        return self.run_dir / self.state["params"]

    def keras_model(self, data: Dataset | None = None):
        """The run's Keras model (before neuron swapping) with the trained weights.

        Batch norms are folded into the layers before them and dropout is gone
        (`fold_for_conversion`): the net every command runs.

        Returns
        -------
        model : tf.keras.Model
        """
        from nengo_mif.networks.models import fold_for_conversion, needs_folding, trained_model

        shape = tuple(self.state.get("input_shape") or (data or self.data).input_shape)
        n_classes = self.state.get("n_classes") or (data or self.data).n_classes
        arrays = self.arrays()
        model = trained_model(self.config.model, shape, n_classes, stored_layers(arrays))
        try:
            set_layer_weights(model, arrays, source=str(self.params_path))
        except RunError as e:
            # the weights belong to the run only if state.json describes the same net
            raise RunError(
                f"{e}; the model was built from {self.run_dir / checkpoint.STATE} (model "
                f"{self.config.model!r}, input_shape {list(shape)}, n_classes {n_classes}): "
                "if that file was edited, restore it"
            ) from e
        return fold_for_conversion(model) if needs_folding(model) else model


def training_data(config: TrainConfig) -> Dataset:
    """The dataset with the validation images taken out of its training set.

    Returns
    -------
    data : Dataset
    """
    data = load_dataset(config.dataset, config.data_dir)
    if config.validation:
        if config.validation >= len(data.x_train):
            raise ConfigError(
                f"validation ({config.validation}) must be smaller than the "
                f"training set ({len(data.x_train)} images)"
            )
        data.x_train, data.y_train = (
            data.x_train[: -config.validation],
            data.y_train[: -config.validation],
        )
    return data


def validation_data(config: TrainConfig) -> Dataset:
    """The held-out validation images as a test set (for choosing settings).

    Returns
    -------
    data : Dataset
    """
    if not config.validation:
        raise ConfigError("this run holds out no validation images (validation=0)")
    data = load_dataset(config.dataset, config.data_dir)
    n = config.validation
    return Dataset(
        data.name,
        data.x_train[:-n],
        data.y_train[:-n],
        data.x_train[-n:],
        data.y_train[-n:],
        f"{n} validation images held out of training",
    )
