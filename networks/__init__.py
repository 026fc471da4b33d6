"""Convolutional networks with swappable neuron types: train rate-based, evaluate spiking.

Installed as ``nengo_mif.networks``. Importing this package loads neither TensorFlow
nor NengoDL; the modules that need them (`engine`, `train`, `evaluate`,
`conversion`) load them.
"""

from nengo_mif.networks.config import EvalConfig, TrainConfig
from nengo_mif.networks.data import DATASETS, DataError, Dataset, load_dataset
from nengo_mif.networks.run import Run

from nengo_mif.registry import REGISTRY, neuron_type

__all__ = [
    "DATASETS",
    "Dataset",
    "DataError",
    "EvalConfig",
    "load_dataset",
    "REGISTRY",
    "Run",
    "TrainConfig",
    "neuron_type",
]
