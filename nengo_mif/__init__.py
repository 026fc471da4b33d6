"""nengo-mif: memristive integrate-and-fire neurons for Nengo, NengoDL and Loihi.

Importing the package loads nengo core only; the NengoDL builders register when
NengoDL is imported, and the Keras engine (`nengo_mif.keras`) loads TensorFlow.
"""

from nengo_mif.dl import hook as _dl_hook
from nengo_mif.neurons import LIF, MIF, MIF2, circuit_lif
from nengo_mif.version import __version__

_dl_hook.install()

__all__ = ["LIF", "MIF", "MIF2", "circuit_lif", "__version__"]
