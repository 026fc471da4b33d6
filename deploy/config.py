"""Settings of a deployment to Loihi (or its emulator). Imports neither TensorFlow nor NengoDL.

Declared as `nengo_mif.networks.config`'s settings are (`setting`, `validate`): each
field's allowed values sit in its declaration and one routine checks them.
"""

from __future__ import annotations

from dataclasses import dataclass

from nengo_mif.networks.config import readout_within_steps, stored_setting

from nengo_mif.defaults import default
from nengo_mif.exceptions import ConfigError
from nengo_mif.settings import setting, validate

TARGETS = ("sim", "loihi")


def _max_rate_below_one_spike_per_step(config: DeployConfig) -> None:
    if config.max_rate >= 1 / config.dt:
        raise ConfigError(
            f"max_rate must be below 1/dt = {1 / config.dt:g} Hz (Loihi emits "
            f"at most one spike per step); got {config.max_rate:g}; lower --max-rate"
        )


@dataclass
class DeployConfig:
    """How a trained run is deployed and measured."""

    n_test: int = setting(100, "number of test images", low=1, integer=True)
    n_steps: int | None = stored_setting("n_steps", "time steps per image", low=1, integer=True)
    synapse: float | None = stored_setting(
        "synapse", "Lowpass time constant in seconds (0: no filtering)", low=0, by_layer=True
    )
    blank_steps: int = setting(
        40,
        "zero-input steps after each image, so that the state one image leaves in the "
        "neurons and synapses fades before the next (Loihi has no reset; 0: none)",
        low=0,
        integer=True,
    )
    dt: float = setting(default.dt, "time step (s)", low=0, low_open=True)
    target: str = setting("sim", "sim (the emulator) or loihi (needs NxSDK)", choices=TARGETS)
    scale_firing_rates: float | None = stored_setting(
        "scale_firing_rates", "firing-rate scale", low=0, low_open=True
    )
    readout_steps: int | None = stored_setting(
        "readout_steps",
        "accuracy from the output averaged over the image's last K steps",
        low=1,
        integer=True,
    )
    max_rate: float = setting(
        default.max_rate,
        "ceiling of a mapped LIF's rate in Hz (Loihi: below 1/dt)",
        low=0,
        low_open=True,
    )
    seed: int = setting(
        default.seed,
        "seed of the neurons' initial states in the NengoDL comparison",
        low=0,
        integer=True,
    )
    block_shape: tuple[int, ...] | None = setting(
        None,
        "block shape for every on-chip conv layer, e.g. 16,16,8",
        default_help="chosen to fit",
        low=1,
        integer=True,
        items="sides",
    )

    def __post_init__(self) -> None:
        validate(self, readout_within_steps, _max_rate_below_one_spike_per_step)

    def loihi_settings(self) -> dict:
        """The settings that choose the neurons Loihi runs (`mapping.loihi_neurons`).

        Returns
        -------
        settings : dict
        """
        scale = self.scale_firing_rates
        scale = default.scale_firing_rates if scale is None else scale
        return dict(dt=self.dt, max_rate=self.max_rate, scale=scale)
