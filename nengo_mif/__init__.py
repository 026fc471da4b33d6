"""nengo-mif: memristive integrate-and-fire neurons for Nengo, NengoDL and Loihi."""

import os

# TensorFlow's C++ start-up chatter (e.g. "Could not find TensorRT") is noise to
# users. TensorFlow fixes its log level when it loads, and nengo_dl would force
# TF_CPP_MIN_LOG_LEVEL=1 before loading it, so load TensorFlow first with the user's
# setting or, by default, errors only.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_TF_LOG_LEVEL = os.environ["TF_CPP_MIN_LOG_LEVEL"]
import tensorflow  # noqa: E402,F401

from nengo_mif.version import __version__  # noqa: E402
from nengo_mif.neurons import LIF, MIF, MIF2, circuit_lif  # noqa: E402
from nengo_mif import dl_builders  # noqa: E402,F401  (registers the NengoDL builders)
from nengo_mif._quiet import quiet_tensorflow  # noqa: E402

os.environ["TF_CPP_MIN_LOG_LEVEL"] = _TF_LOG_LEVEL  # for child processes
quiet_tensorflow()

__all__ = ["LIF", "MIF", "MIF2", "circuit_lif", "__version__"]
