"""nengo-mif: memristive integrate-and-fire neurons for Nengo, NengoDL and Loihi."""

import os

from nengo_mif._quiet import native_stderr_silenced, quiet_tensorflow

# TensorFlow's C++ start-up chatter is noise to users: errors only, unless the user
# chose a TF_CPP_MIN_LOG_LEVEL (nengo_dl overrides it on import, so restore it after).
_USER_TF_LOG_LEVEL = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
with native_stderr_silenced(active=_USER_TF_LOG_LEVEL is None):
    import nengo_dl  # noqa: F401
os.environ["TF_CPP_MIN_LOG_LEVEL"] = _USER_TF_LOG_LEVEL or "3"
quiet_tensorflow()

from nengo_mif import dl_builders  # noqa: E402,F401  (registers the NengoDL builders)
from nengo_mif.neurons import LIF, MIF, MIF2, circuit_lif  # noqa: E402
from nengo_mif.version import __version__  # noqa: E402

__all__ = ["LIF", "MIF", "MIF2", "circuit_lif", "__version__"]
