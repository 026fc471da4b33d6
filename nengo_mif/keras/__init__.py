"""The Keras engine: neuron types as Keras layers, and networks of them at Keras speed.

As keras-spiking: `maths` holds each type's rate curve and step on tensors,
`activations` the neuron layers, `synapses` the filters, `encodings` the input
encodings, `convert` the rate and spiking versions of a Keras model, `fit` their
training, `engine` the engine object (registered as ``"keras"``). Imports
TensorFlow; never nengo_dl, `nengo_mif.networks` or `nengo_mif.deploy`.
"""

from nengo_mif.keras.activations import RateActivation, SpikingActivation
from nengo_mif.keras.encodings import InputEncoding
from nengo_mif.keras.engine import KerasEngine
from nengo_mif.keras.synapses import Lowpass

__all__ = ["InputEncoding", "KerasEngine", "Lowpass", "RateActivation", "SpikingActivation"]
