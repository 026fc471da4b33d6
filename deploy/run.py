"""The deploy job: a trained run on Loihi (emulator by default), compared with NengoDL.

`deploy` rebuilds the run's network with Loihi-capable neurons (LIF and spiking ReLU
directly; MIF and MIF2 through a fitted LIF, `mapping.fit_lif`), folds biases, places
layers and blocks (`placement`), builds it for the chip, shrinking blocks that
overflow a core (`build`), presents N test images one after another, each followed by
blank steps (`present`; the chip has no reset), and reports accuracy next to
NengoDL's on the same network, their agreement image by image, and the resources per
layer (`report`). `deploy_command` is the command line's entry point.
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import asdict

from nengo_mif.deploy.build import build_fitting
from nengo_mif.deploy.config import DeployConfig
from nengo_mif.deploy.mapping import LoihiNeurons, loihi_neurons, starting_as_nengo
from nengo_mif.deploy.placement import fold_constant_inputs, place, plan_blocks
from nengo_mif.deploy.present import (
    chip_predictions,
    predict_dl,
    present_with_blanks,
    run_images,
    too_fast_for_loihi,
)
from nengo_mif.deploy.report import accuracies, format_report, resource_table
from nengo_mif.networks import checkpoint
from nengo_mif.networks.config import for_run
from nengo_mif.networks.data import Dataset
from nengo_mif.networks.run import Run

from nengo_mif.dl.conversion import convert, flat
from nengo_mif.exceptions import DeployError

# importable from here as before the split into build, present and report
__all__ = [
    "build_deployable",
    "check_target",
    "deploy",
    "deploy_command",
    "format_report",
    "loihi_neurons_for",
    "present_with_blanks",
]

log = logging.getLogger(__name__)


def loihi_neurons_for(
    run: Run, model, config: DeployConfig, data: Dataset | None = None
) -> LoihiNeurons:
    """The neurons Loihi runs for a trained run (`mapping.loihi_neurons`); deploy and export.

    A run fine-tuned for Loihi (``--loihi-epochs``) holds the neurons it was tuned
    against; they are used when the deployment's settings match.

    Returns
    -------
    neurons : LoihiNeurons
    """
    if run.neuron_params:
        trained = ", ".join(
            f"{p} in {layer}" for layer, params in run.neuron_params.items() for p in params
        )
        raise DeployError(
            f"{run.run_dir} trained its neuron constants per layer ({trained}); Loihi "
            "deployment and NIR export map one neuron type onto every layer and do not "
            "carry them yet: train without --train-constants to deploy"
        )
    stored = run.state.get("loihi")
    if stored and stored["settings"] == config.loihi_settings():
        return LoihiNeurons.from_dict(stored["neurons"])
    if stored:
        log.warning("deploying with other settings than the Loihi fine-tuning used; refitting")
    x = (data or run.data).x_train[:50]
    return loihi_neurons(model, run.config.neuron, x=x, **config.loihi_settings())


def build_deployable(run: Run, config: DeployConfig, data: Dataset):
    """The run's network rebuilt for Loihi.

    Returns
    -------
    converted, mapping, placement : Converted, LIFMapping or None, dict
    """
    model = run.keras_model(data)
    plan_blocks(model, default_block=config.block_shape)  # fail before the slow steps
    neurons = loihi_neurons_for(run, model, config, data)
    conv = convert(
        model,
        starting_as_nengo(neurons.kind),  # the chip ignores it; NengoDL needs it
        synapse=config.synapse,
        scale_firing_rates=neurons.scale,
        gain_factor=neurons.gain_factor,
        probe_layers="neurons",
        seed=config.seed,
    )
    fold_constant_inputs(conv.net, inputs=[conv.input])
    placement = place(conv, default_block=config.block_shape)
    return conv, neurons.mapping, placement


def deploy(
    run_dir, config: DeployConfig, data: Dataset | None = None, progress: bool = True
) -> dict:
    """Run a trained network on Loihi or its emulator; returns a JSON-ready report.

    Returns
    -------
    report : dict
        Accuracies on the target and NengoDL, agreement, mapping, placement, resources, timings.
    """
    run = Run.open(run_dir)
    config = for_run(config, run.state.get("settings", {}))
    data = data or run.data
    conv, mapping, placement = build_deployable(run, config, data)
    n = min(config.n_test, len(data.x_test))
    x, y = data.x_test[:n], data.y_test[:n]
    capped = []
    if config.n_test > n:
        capped = [f"n_test {config.n_test} is more than the {n} test images; ran all {n}"]

    dl_pred, dl_rates = predict_dl(conv, x, config, progress)
    warnings_out = capped + too_fast_for_loihi(dl_rates, placement, config.dt)
    for msg in warnings_out:
        warnings.warn(msg, stacklevel=2)

    conv.input.output = present_with_blanks(
        flat(x)[:, 0], config.n_steps, config.blank_steps, config.dt
    )
    start = time.perf_counter()
    sim, placement = build_fitting(conv, placement, config)
    with sim:
        build_s = time.perf_counter() - start
        resources = resource_table(sim, conv, placement)
        start = time.perf_counter()
        run_images(sim, n, config, progress)
        run_s = time.perf_counter() - start
        output = sim.data[conv.output]
    loihi_pred = chip_predictions(output, n, config)
    return dict(
        run_dir=str(run_dir),
        trained_neuron=run.config.neuron,
        target=config.target,
        settings={k: v for k, v in asdict(config).items()},
        n_test=n,
        test_source=data.test_source,
        mapping=mapping.as_dict() if mapping else None,
        **accuracies(loihi_pred, dl_pred, y),
        placement=placement,
        resources=resources,
        warnings=warnings_out,
        build_seconds=build_s,
        seconds_per_image=run_s / n,
    )


def check_target(config: DeployConfig) -> None:
    """Fail before any work if the chosen target cannot run here."""
    if config.target == "loihi":
        from nengo_loihi.hardware import HAS_NXSDK

        if not HAS_NXSDK:
            raise DeployError(
                "--target loihi needs Intel's NxSDK, which is not installed "
                "here; use --target sim (the emulator)"
            )


def deploy_command(run_dir, config: DeployConfig, out: str | None = None) -> int:
    """`deploy` for the command line: checks, runs, prints, saves the report.

    Returns
    -------
    status : int
        The exit status (0).
    """
    from pathlib import Path

    check_target(config)
    out_path = Path(out or Path(run_dir) / f"deploy-{config.target}.json")
    checkpoint.check_writable(out_path.parent)
    report = deploy(run_dir, config)
    print(format_report(report))
    checkpoint.atomic_write_json(out_path, report)
    print(f"report: {out_path}")
    return 0
