"""The Loihi neurons that Loihi-aware training fine-tunes against (`networks.train`'s target)."""

from __future__ import annotations

import numpy as np
from nengo_mif.deploy.config import DeployConfig
from nengo_mif.deploy.mapping import LoihiNeurons, loihi_neurons


class LoihiTraining:
    """Chooses the neurons once, with the deployment's defaults, and restores them on resume."""

    def choose(self, model, trained: str, x: np.ndarray) -> tuple[LoihiNeurons, dict]:
        """The neurons for a net trained with ``trained``, fitted on images ``x``.

        Returns
        -------
        neurons : LoihiNeurons
        saved : dict
            What the run stores, for `restore` and for ``deploy``.
        """
        settings = DeployConfig().loihi_settings()
        neurons = loihi_neurons(model, trained, x=x, **settings)
        return neurons, dict(settings=settings, neurons=neurons.as_dict())

    def restore(self, saved: dict) -> LoihiNeurons:
        """The neurons a run chose (`choose`'s ``saved``).

        Returns
        -------
        neurons : LoihiNeurons
        """
        return LoihiNeurons.from_dict(saved["neurons"])


#: what to pass as ``train(..., loihi=LOIHI)``
LOIHI = LoihiTraining()
