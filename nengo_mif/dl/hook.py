"""Register the NengoDL builders when (and only when) NengoDL is imported.

Importing `nengo_mif` must not load TensorFlow: a nengo-core or Nengo GUI user never
needs it. NengoDL looks its builders up at build time, so they only have to be
registered before a `nengo_dl.Simulator` is built: a post-import hook on
``nengo_dl`` does that, whichever of the two packages is imported first.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys


def _register() -> None:
    from nengo_mif._quiet import restore_tf_log_level

    importlib.import_module("nengo_mif.dl.builders")
    restore_tf_log_level()  # nengo_dl sets TF_CPP_MIN_LOG_LEVEL on import


class _NengoDLFinder(importlib.abc.MetaPathFinder):
    """Finds ``nengo_dl`` as usual, then registers our builders once it has run."""

    def find_spec(self, name, path, target=None):
        if name != "nengo_dl":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_register(module):
            exec_module(module)
            _register()

        spec.loader.exec_module = exec_then_register
        return spec


def install() -> None:
    """Register now if NengoDL is loaded, else as soon as it is."""
    if "nengo_dl" in sys.modules:
        _register()
    elif not any(isinstance(f, _NengoDLFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _NengoDLFinder())
