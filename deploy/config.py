"""Settings of a deployment to Loihi (or its emulator). Imports neither TensorFlow nor NengoDL."""

from __future__ import annotations

from dataclasses import dataclass, field

from nengo_mif.networks.config import (
    ConfigError,
    _check_choice,
    _check_number,
    _check_readout,
    _help,
    stored_setting,
)


@dataclass
class DeployConfig:
    """How a trained run is deployed and measured."""

    n_test: int = field(default=100, metadata=_help("number of test images"))
    n_steps: int = field(default=30, metadata=_help("time steps per image"))
    synapse: float | None = stored_setting(
        "synapse", "Lowpass time constant in seconds (0: no filtering)"
    )
    blank_steps: int = field(
        default=40,
        metadata=_help(
            "zero-input steps after each image, so that the state one image leaves in the "
            "neurons and synapses fades before the next (Loihi has no reset; 0: none)"
        ),
    )
    dt: float = field(default=0.001, metadata=_help("time step (s)"))
    target: str = field(
        default="sim",
        metadata=_help("sim (the emulator) or loihi (needs NxSDK)", choices=("sim", "loihi")),
    )
    scale_firing_rates: float | None = stored_setting("scale_firing_rates", "firing-rate scale")
    readout_steps: int | None = stored_setting(
        "readout_steps", "accuracy from the output averaged over the image's last K steps"
    )
    max_rate: float = field(
        default=250.0, metadata=_help("ceiling of a mapped LIF's rate in Hz (Loihi: below 1/dt)")
    )
    seed: int = field(
        default=0,
        metadata=_help("seed of the neurons' initial states in the NengoDL comparison"),
    )
    block_shape: tuple[int, ...] | None = field(
        default=None,
        metadata=_help(
            "block shape for every on-chip conv layer, e.g. 16,16,8 (default: chosen to fit)"
        ),
    )

    def loihi_settings(self) -> dict:
        """The settings that choose the neurons Loihi runs (`mapping.loihi_neurons`).

        Returns
        -------
        settings : dict
        """
        scale = 1.0 if self.scale_firing_rates is None else self.scale_firing_rates
        return dict(dt=self.dt, max_rate=self.max_rate, scale=scale)

    def __post_init__(self):
        _check_number("n_test", self.n_test, 1, integer=True)
        _check_number("n_steps", self.n_steps, 1, integer=True)
        if not isinstance(self.synapse, dict):
            _check_number("synapse", self.synapse, 0, optional=True)
        _check_number("blank_steps", self.blank_steps, 0, integer=True)
        _check_number("dt", self.dt, 0, low_open=True)
        _check_number(
            "scale_firing_rates", self.scale_firing_rates, 0, low_open=True, optional=True
        )
        if self.readout_steps is not None:
            _check_readout(self.readout_steps, self.n_steps)
        _check_number("max_rate", self.max_rate, 0, low_open=True)
        _check_number("seed", self.seed, 0, integer=True)
        if self.max_rate >= 1 / self.dt:
            raise ConfigError(
                f"max_rate must be below 1/dt = {1 / self.dt:g} Hz (Loihi emits "
                f"at most one spike per step); got {self.max_rate:g}"
            )
        _check_choice("target", self.target, ("sim", "loihi"))
        if self.block_shape is not None:
            self.block_shape = tuple(self.block_shape)
            if not self.block_shape or any(
                not isinstance(b, int) or isinstance(b, bool) or b < 1 for b in self.block_shape
            ):
                raise ConfigError(
                    f"block_shape sides must be whole numbers >= 1; got {self.block_shape}"
                )
