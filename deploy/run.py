"""Deploy a trained run to Loihi (emulator by default) and compare with NengoDL.

`deploy` rebuilds the run's network with Loihi-capable neurons (LIF and spiking ReLU
directly; MIF and MIF2 through a fitted LIF, `mapping.fit_lif`), folds biases, places
layers and blocks (`placement`), presents N test images one after another, each
followed by blank steps (`present_with_blanks`; the chip has no reset), and reports accuracy next to NengoDL's on the same
network, their agreement image by image, and the resources per layer.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from dataclasses import asdict

import nengo_loihi
import numpy as np
from nengo.exceptions import BuildError
from nengo_mif.deploy.config import DeployConfig
from nengo_mif.deploy.mapping import LoihiNeurons, loihi_neurons, starting_as_nengo
from nengo_mif.deploy.placement import (
    CORES_PER_CHIP,
    DeployError,
    fold_constant_inputs,
    place,
    plan_blocks,
)
from nengo_mif.networks import checkpoint
from nengo_mif.networks.config import for_run
from nengo_mif.networks.data import Dataset
from nengo_mif.networks.evaluate import readout
from nengo_mif.networks.run import Run

from nengo_mif._quiet import progress_bar
from nengo_mif.dl.conversion import convert, flat, predict_batches

log = logging.getLogger(__name__)


def loihi_neurons_for(run: Run, model, config: DeployConfig, data: Dataset | None = None):
    """The neurons Loihi runs for a trained run (`mapping.loihi_neurons`).

    A run fine-tuned for Loihi (``--loihi-epochs``) holds the neurons it was tuned
    against; they are used when the deployment's settings match.

    Returns
    -------
    neurons : LoihiNeurons
    """
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


def present_with_blanks(images: np.ndarray, n_steps: int, blank_steps: int, dt: float):
    """A node output showing each image for ``n_steps`` steps, then zeros for ``blank_steps``.

    Loihi cannot reset its neurons and synapses between images, so without a blank the
    next image starts from the state the last one left (NengoDL starts each image
    afresh): with a 10 ms synapse that dropped a LIF net from 96% to 32% on the
    emulator, and 40 blank steps brought it back to 94% (100 MNIST test images).

    Returns
    -------
    output : callable
        ``t -> input`` (the step index from ``t`` as `nengo.processes.PresentInput`).
    """
    period = n_steps + blank_steps
    zeros = np.zeros_like(images[0])

    def present(t):
        i, step = divmod(int(round(t / dt)) - 1, period)  # nengo's t is (k + 1) dt
        return images[i % len(images)] if step < n_steps else zeros

    return present


def _predict_dl(conv, x: np.ndarray, config: DeployConfig, progress: bool):
    """NengoDL predictions and per-neuron rates (Hz) of the deployable network."""
    by_name = {layer.name: layer for layer in conv.model.layers}
    amplitude = {
        name: conv.converter.layers[by_name[name].output].ensemble.neuron_type.amplitude
        for name in conv.layer_probes
    }
    preds, rates = [], {name: [] for name in conv.layer_probes}
    batch = max(b for b in range(1, 51) if len(x) % b == 0)
    for out in predict_batches(conv, x, config.n_steps, config.dt, batch, progress=progress):
        preds.append(readout(out[conv.output], config.readout_steps)[:, -1].argmax(axis=-1))
        for name, probe in conv.layer_probes.items():
            rates[name].append(out[probe].mean(axis=1) / amplitude[name])
    return np.concatenate(preds), {k: np.concatenate(v) for k, v in rates.items()}


def _build_fitting(conv, placement: dict, config: DeployConfig, attempts: int = 8):
    """Build for Loihi, shrinking a layer's blocks while it overflows a core."""
    blocks = {name: p["block_shape"] for name, p in placement.items() if p["on_chip"]}
    for _ in range(attempts):
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", category=UserWarning, module="nengo_loihi")
                sim = nengo_loihi.Simulator(
                    conv.net, dt=config.dt, target=config.target, progress_bar=False
                )
            return sim, placement
        except BuildError as e:
            layer = next((n for n in blocks if f"'{n}." in str(e)), None)
            if "exceeded max" not in str(e) or layer is None or config.block_shape:
                raise DeployError(f"{e}; choose a smaller --block-shape") from e
            log.info("%s; shrinking %s blocks", e, layer)
            blocks[layer] = _smaller(blocks[layer])
            placement = place(conv, block_shapes=blocks)
    raise DeployError("could not fit the network's layers onto Loihi cores")


def _smaller(block: tuple[int, ...]) -> tuple[int, ...]:
    """Halve the channels first (they set synapse memory), then the largest side."""
    block = list(block)
    i = len(block) - 1 if block[-1] > 1 else int(np.argmax(block))
    block[i] = max(1, block[i] // 2)
    return tuple(block)


def resource_table(sim: nengo_loihi.Simulator, placement: dict) -> dict:
    """Blocks, compartments and memory per on-chip layer, from the built model.

    Returns
    -------
    resources : dict
        Per layer blocks, compartments, axons and synapse bits; cores and chips.
    """
    per_layer = {
        name: dict(
            blocks=0,
            compartments=0,
            in_axons=0,
            out_axons=0,
            synapse_bits=0,
            max_synapse_fraction=0.0,
        )
        for name, p in placement.items()
        if p["on_chip"]
    }
    for block in sim.model.blocks:
        label = block.label or ""
        layer = next((n for n in per_layer if f"'{n}." in label), None)
        if layer is None:
            continue
        util = block.utilization()
        row = per_layer[layer]
        row["blocks"] += 1
        row["compartments"] += util["compartments"][0]
        row["in_axons"] += util["in-axons"][0]
        row["out_axons"] += util["out-axons"][0]
        row["synapse_bits"] += util["synapses"][0]
        row["max_synapse_fraction"] = max(
            row["max_synapse_fraction"], util["synapses"][0] / util["synapses"][1]
        )
    cores = sum(r["blocks"] for r in per_layer.values())
    return dict(layers=per_layer, cores=cores, chips=math.ceil(cores / CORES_PER_CHIP))


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

    dl_pred, dl_rates = _predict_dl(conv, x, config, progress)
    warnings_out = []
    for name, r in dl_rates.items():
        too_fast = int((r.max(axis=0) >= 1 / config.dt).sum())
        if placement[name]["on_chip"] and too_fast:
            msg = (
                f"layer {name!r}: {too_fast} neurons reach {1 / config.dt:g} Hz, the most "
                "Loihi can emit (one spike per step); lower --scale-firing-rates"
            )
            warnings.warn(msg, stacklevel=2)
            warnings_out.append(msg)

    conv.input.output = present_with_blanks(
        flat(x)[:, 0], config.n_steps, config.blank_steps, config.dt
    )
    period = config.n_steps + config.blank_steps
    start = time.perf_counter()
    sim, placement = _build_fitting(conv, placement, config)
    with sim:
        build_s = time.perf_counter() - start
        resources = resource_table(sim, placement)
        start = time.perf_counter()
        for _ in progress_bar(range(n), f"loihi {config.target}", progress):
            sim.run_steps(period)
        run_s = time.perf_counter() - start
        out = sim.data[conv.output].reshape(n, period, -1)
    # read as NengoDL is: the image's presented steps, not its blank ones
    loihi_pred = readout(out[:, : config.n_steps], config.readout_steps)[:, -1].argmax(axis=-1)
    m = len(dl_pred)
    return dict(
        run_dir=str(run_dir),
        trained_neuron=run.config.neuron,
        target=config.target,
        settings={k: v for k, v in asdict(config).items()},
        n_test=n,
        test_source=data.test_source,
        mapping=mapping.as_dict() if mapping else None,
        loihi_accuracy=float((loihi_pred == y).mean()),
        nengo_dl_accuracy=float((dl_pred == y[:m]).mean()),
        agreement=float((dl_pred == loihi_pred[:m]).mean()),
        placement=placement,
        resources=resources,
        warnings=warnings_out,
        build_seconds=build_s,
        seconds_per_image=run_s / n,
    )


def format_report(report: dict) -> str:
    """A deployment report as a few lines of text.

    Returns
    -------
    text : str
    """
    s = report["settings"]
    lines = [
        f"{report['target']} accuracy {report['loihi_accuracy']:.4f} vs NengoDL "
        f"{report['nengo_dl_accuracy']:.4f} (same network and settings; agreement "
        f"{report['agreement']:.3f}) on {report['n_test']} images "
        f"({report['test_source']}), {s['n_steps']} steps, synapse {s['synapse']}"
    ]
    if report["mapping"]:
        m = report["mapping"]
        lines.append(
            f"{m['source']} -> Loihi LIF: tau_rc {m['tau_rc'] * 1e3:.2f} ms, tau_ref "
            f"{m['tau_ref'] * 1e3:.0f} ms, gain {m['gain']:.3g}, fit error "
            f"{100 * m['rms_error']:.2f}% over u in [0, {m['u_max']:.3g}]"
        )
    lines.append(
        f"{'layer':<10}{'chip':>5}{'neurons':>9}{'block':>14}{'blocks':>7}"
        f"{'in-axons':>10}{'synapse bits':>14}{'max syn %':>10}"
    )
    res = report["resources"]["layers"]
    for name, p in report["placement"].items():
        r = res.get(name, {})
        lines.append(
            f"{name:<10}{'on' if p['on_chip'] else 'off':>5}{p['neurons']:>9}"
            f"{str(p.get('block_shape', '-')):>14}{r.get('blocks', 0):>7}"
            f"{r.get('in_axons', 0):>10}{r.get('synapse_bits', 0):>14}"
            f"{100 * r.get('max_synapse_fraction', 0):>10.1f}"
        )
    lines.append(
        f"cores {report['resources']['cores']}, chips {report['resources']['chips']}; "
        f"{report['seconds_per_image']:.2f} s per image on the {report['target']}"
    )
    return "\n".join(lines)


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
