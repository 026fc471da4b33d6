"""nengo-mif: memristive integrate-and-fire neurons for Nengo, NengoDL and Loihi."""

import os

# TensorFlow's C++ start-up chatter is noise to users; an explicit setting wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from nengo_mif.version import __version__  # noqa: E402
from nengo_mif.neurons import LIF, MIF, MIF2, circuit_lif  # noqa: E402
from nengo_mif import dl_builders  # noqa: E402,F401  (registers the NengoDL builders)
from nengo_mif._quiet import quiet_tensorflow  # noqa: E402

quiet_tensorflow()

__all__ = ["LIF", "MIF", "MIF2", "circuit_lif", "__version__"]
