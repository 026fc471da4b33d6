"""The package's exceptions: one root, and subclasses that also inherit the built-in.

As `nengo.exceptions` (``ValidationError(NengoException, ValueError)``): code that
catches ``ValueError`` keeps working, and the command line catches `NengoMifError`
alone to report any of them in one line. Every message names the setting, file or
layer at fault and the fix. Imports nothing.
"""

from __future__ import annotations


class NengoMifError(Exception):
    """Root of the errors that are the user's to fix (the CLI prints them in one line)."""


class ConfigError(NengoMifError, ValueError):
    """A setting is out of range; the message names it and says what is allowed."""


class UnknownNeuronType(ConfigError):
    """A neuron type name that is not registered; the message lists the choices."""


class EngineError(NengoMifError, ValueError):
    """An engine cannot run this model; the message names the layer and the fix."""


class NonFiniteInput(NengoMifError, FloatingPointError):
    """A spiking layer's input current was NaN or inf; the message names the layer."""


class DataError(NengoMifError, FileNotFoundError):
    """A dataset's files are missing or damaged; the message names the file and the fix."""


class CheckpointError(NengoMifError, FileNotFoundError):
    """A run's checkpoint cannot be read or written; the message names the file."""


class RunError(NengoMifError, FileNotFoundError):
    """A run directory is missing or holds no finished epoch."""


class RunExists(NengoMifError, FileExistsError):
    """A run directory already holds a training run; the message says how to continue it."""


class TrainingInterrupted(NengoMifError, RuntimeError):
    """Training stopped by the user; the message says what is on disk and how to resume."""


class TrainingDiverged(NengoMifError, FloatingPointError):
    """The loss or a layer's input became NaN or inf; the message says what to lower."""


class DeployError(NengoMifError, ValueError):
    """A network cannot be placed on Loihi as configured; the message says what to change."""


class NIRExportError(NengoMifError, ValueError):
    """A NIR graph cannot be written or read; the message names the node and the fix."""
