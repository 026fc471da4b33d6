"""Settings chosen on the validation split, never the test set, and stored in the run.

`tune` sweeps the evaluation settings of a trained run (synapse, firing-rate scale,
readout window) by spiking accuracy on the run's held-out validation images and
writes the best into the run's state (``settings``); `evaluate`, `compare`,
`deploy` and `export` then use them wherever the user sets nothing else. Ties go to
the setting with fewer synaptic operations. Spike-aware training stores the
settings it was trained with the same way.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from nengo_mif.networks import checkpoint
from nengo_mif.networks.config import TUNE_SYNAPSES, ConfigError, EvalConfig
from nengo_mif.networks.evaluate import evaluate
from nengo_mif.networks.run import Run, validation_data

from nengo_mif.registry import record


def default_scales(neuron: str) -> tuple[float, ...]:
    """The firing-rate scales swept for a type.

    Spiking ReLU already runs at 100x, and it needs up to 30x more for short
    presentations (10 steps on Fashion-MNIST: 11% at 5 ms x3, 87% at 1 ms x30 on
    validation); LIF-like types saturate at 1/tau_ref, so higher scales do not help them.

    Returns
    -------
    scales : tuple of float
    """
    return (1.0, 2.0, 3.0) if record(neuron).spiking_scale == 1.0 else (1.0, 3.0, 10.0, 30.0)


def tune(
    run_dir: str | Path,
    synapses: Sequence[float] | None = None,
    scales: Sequence[float] | None = None,
    readout_steps: Sequence[int] = (1,),
    n_val: int | None = None,
    config: EvalConfig | None = None,
    store: bool = True,
) -> dict:
    """Choose ``synapse`` x ``scale_firing_rates`` x ``readout_steps`` on validation.

    Parameters
    ----------
    run_dir : str or Path
        A run trained with ``validation > 0`` (held-out training images).
    synapses, scales, readout_steps : sequences
        The grid (defaults: `config.TUNE_SYNAPSES`, `default_scales`).
    n_val : int or None
        Validation images per grid point (default: all held out).
    config : EvalConfig or None
        Everything else (steps, dt, engine, encoding, batch size).
    store : bool
        Write the choice into the run (else only return it: e.g. the best settings
        for a presentation length other than the one the run is used at).

    Returns
    -------
    settings : dict
        The chosen settings (as stored in the run), their validation accuracy and the
        whole sweep.
    """
    run = Run.open(run_dir)
    if not run.config.validation:
        raise ConfigError(
            f"{run_dir} holds out no validation images; train with --validation N "
            "(settings are never chosen on the test set)"
        )
    config = config or EvalConfig()
    val = validation_data(run.config)
    n_val = n_val or len(val.x_test)
    base = replace(config, n_test=n_val, mode="spiking")
    sweep = []
    for synapse, scale, k in itertools.product(
        synapses or TUNE_SYNAPSES, scales or default_scales(run.config.neuron), readout_steps
    ):
        trial = replace(base, synapse=synapse, scale_firing_rates=scale, readout_steps=k)
        report = evaluate(run, trial, val, progress=False)
        sweep.append(
            dict(
                synapse=synapse,
                scale_firing_rates=scale,
                readout_steps=k,
                val_accuracy=report["accuracy"],
                synops_per_image=report["synops_per_image"],
            )
        )
    best = max(sweep, key=lambda s: (s["val_accuracy"], -s["synops_per_image"]))
    settings = dict(
        source=f"validation ({report['n_test']} held-out images, {report['n_steps']} steps)",
        n_steps=report["n_steps"],
        epochs_done=run.state["epochs_done"],  # the weights they were chosen for
        synapse=best["synapse"],
        scale_firing_rates=best["scale_firing_rates"],
        readout_steps=best["readout_steps"],
        encoding=config.encoding or "analog",
        val_accuracy=best["val_accuracy"],
        sweep=sweep,
    )
    if store:
        with checkpoint.owned(run_dir):
            state = checkpoint.load_state(run_dir)
            state["settings"] = settings
            checkpoint.atomic_write_json(Path(run_dir) / checkpoint.STATE, state)
    return settings
