"""Convolutional networks with swappable neuron types: train rate-based, evaluate spiking.

Installed as ``nengo_mif.networks``.
"""

from nengo_mif.networks.data import DATASETS, DataError, Dataset, load_dataset
from nengo_mif.networks.models import MODELS, build_model, fold_for_conversion
from nengo_mif.networks.neuron_types import NEURON_TYPES, neuron_type

__all__ = [
    "DATASETS", "Dataset", "DataError", "load_dataset", "MODELS", "build_model",
    "fold_for_conversion", "NEURON_TYPES", "neuron_type",
]
