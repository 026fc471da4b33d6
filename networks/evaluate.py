"""Spiking (or rate) evaluation of a trained run: accuracy over time, activity, energy.

The network runs with a Lowpass synapse on every connection out of a neuron layer
and on the output, ``scale_firing_rates``, and the number of time steps each image
is shown for. Accuracy is read at every step, so one run gives the whole
accuracy-vs-time curve. Synaptic operations count the events each layer receives
times its fan-out; energy per inference uses keras-spiking's device table
(`keras_spiking.ModelEnergy.devices`). A trained rate type runs as its spiking
counterpart (`nengo_mif.registry`), at that counterpart's extra scale.

The ``keras`` engine (default) and the ``nengo-dl`` engine give the same numbers
(tested); the initial neuron states are drawn with ``seed``, so a command repeated
gives the same result.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from nengo_mif.networks.caveats import result_warnings
from nengo_mif.networks.config import EvalConfig, for_run, synapse_label
from nengo_mif.networks.data import Dataset
from nengo_mif.networks.memory import check_presentation_fits
from nengo_mif.networks.run import Run

from nengo_mif.engines import Presentation, engine
from nengo_mif.registry import neuron_type, record

ENERGY_DEVICES = ("cpu", "gpu", "loihi")


@dataclass
class Simulated:
    """What one simulation of the test images produced."""

    output: np.ndarray  # (n, n_steps, n_classes)
    activity: dict[str, float]  # per neuron layer: spikes (or rate x seconds), all images
    seconds: float


def simulate(
    model,
    neuron: str,
    x: np.ndarray,
    config: EvalConfig,
    scale: float,
    progress: bool = False,
    layer_params: dict | None = None,
) -> Simulated:
    """Run images ``x`` through ``model`` with ``neuron``, on the configured engine.

    The one simulate loop of the package: evaluation, comparison and the
    benchmarks call it. ``layer_params``: per layer, neuron parameters that differ
    from the type's (a run's trained constants, `Run.neuron_params`).

    Returns
    -------
    simulated : Simulated
    """
    kind = neuron_type(neuron)
    start = time.perf_counter()
    how = Presentation(
        n_steps=config.n_steps,
        dt=config.dt,
        batch_size=config.batch_size,
        rate=config.mode == "rate" or not kind.spiking,
        synapse=config.synapse,
        scale=scale,
        seed=config.seed,
        encoding=config.encoding,
        progress=progress,
        layer_params=layer_params,
    )
    sim = engine(config.engine).simulate(model, kind, x, how)
    return Simulated(sim.output, sim.activity, time.perf_counter() - start)


def readout(output: np.ndarray, k: int) -> np.ndarray:
    """The output read at every step as the mean over the last ``k`` steps (fewer at first).

    Returns
    -------
    output : np.ndarray
        Same shape as ``output`` ``(n, n_steps, n_classes)``.
    """
    if k == 1:
        return output
    total = np.cumsum(output, axis=1)
    total[:, k:] -= total[:, :-k].copy()
    return total / np.minimum(np.arange(1, output.shape[1] + 1), k)[None, :, None]


def _test_images(data: Dataset, config: EvalConfig) -> tuple[np.ndarray, np.ndarray]:
    n = len(data.x_test) if config.n_test is None else min(config.n_test, len(data.x_test))
    return data.x_test[:n], data.y_test[:n]


def evaluate(
    run: Run | str | Path, config: EvalConfig, data: Dataset | None = None, progress: bool = True
) -> dict:
    """Evaluate a trained run; returns a JSON-ready report.

    Returns
    -------
    report : dict
        Accuracy (at the last step and at every step), per-layer neurons, rates,
        spikes and synaptic operations, energy per inference, confusion matrix.
    """
    run = run if isinstance(run, Run) else Run.open(run)
    config = for_run(config, run.state.get("settings", {}))
    data = data or run.data
    x, y = _test_images(data, config)
    rec = record(run.config.neuron)
    rate = config.mode == "rate"
    neuron = config.neuron or (run.config.neuron if rate else rec.spiking)
    scale = config.scale_firing_rates * (rec.spiking_scale if config.neuron is None else 1.0)
    model = run.keras_model(data)
    if not rate:
        check_presentation_fits(model, config.n_steps, config.batch_size, len(x))
    # the constants were trained for the run's own type; another --neuron has its own
    params = run.neuron_params if config.neuron is None else {}
    sim = simulate(model, neuron, x, config, scale, progress, params)
    kind = neuron_type(neuron)
    spiking = kind.spiking and not rate
    n_steps = sim.output.shape[1]

    pred = readout(sim.output, config.readout_steps).argmax(axis=-1)  # (n, n_steps)
    correct = (pred == y[:, None]).sum(axis=0)
    confusion = np.zeros((data.n_classes, data.n_classes), dtype=np.int64)
    np.add.at(confusion, (y, pred[:, -1]), 1)
    layers = layer_report(model, sim.activity, len(x), n_steps, config.dt, spiking)
    accuracy_per_step = (correct / len(x)).tolist()
    report = dict(
        run_dir=str(run.run_dir),
        dataset=data.name,
        test_source=data.test_source,
        n_test=len(x),
        trained_neuron=run.config.neuron,
        neuron=neuron,
        **{
            k: v
            for k, v in asdict(config).items()
            if k not in ("neuron", "n_test", "n_steps", "scale_firing_rates")
        },
        scale_firing_rates=scale,
        neuron_params=params,
        n_steps=n_steps,
        accuracy=accuracy_per_step[-1],
        accuracy_per_step=accuracy_per_step,
        layers=layers,
        spikes_per_image=sum(v.get("spikes_per_image") or 0 for v in layers.values()),
        synops_per_image=sum(v["synops_per_image"] for v in layers.values()),
        energy_per_inference_j=_energy(layers, n_steps, spiking),
        confusion=confusion.tolist(),
        seconds=sim.seconds,
    )
    report["warnings"] = result_warnings(report, run.state, kind, data.n_classes)
    return report


def layer_report(
    model, activity: dict, n_images: int, n_steps: int, dt: float, spiking: bool
) -> dict:
    """Per weighted layer: neurons, rates, spikes and synaptic events per image.

    Returns
    -------
    report : dict
    """
    import keras_spiking

    _register_pooling(keras_spiking.ModelEnergy)
    stats = keras_spiking.ModelEnergy(model).layer_stats
    duration = n_steps * dt
    report, events_in = {}, None  # events arriving at the next layer, per image
    last = None  # the weighted layer a standalone Activation's neurons belong to
    for layer in model.layers:
        weighted = layer in stats and stats[layer]["connections"]
        if weighted:
            n_in = int(np.prod(layer.input_shape[1:]))
            # the image enters as a rate: an event per pixel per step (as keras-spiking)
            arriving = n_in * n_steps if events_in is None else events_in
            synops = arriving * stats[layer]["connections"] / n_in
            last = report[layer.name] = dict(
                connections=int(stats[layer]["connections"]), synops_per_image=synops
            )
        if layer.name in activity and last is not None:
            # neurons of a layer's own activation, or of an Activation after it (batch norm)
            n = int(np.prod(layer.output_shape[1:]))
            per_image = activity[layer.name] / n_images
            last.update(
                neurons=n,
                mean_rate_hz=per_image / n / duration,
                spikes_per_image=per_image if spiking else None,
            )
            # a rate network sends every neuron's value at every step
            events_in = per_image if spiking else n * n_steps
    return report


def _register_pooling(energy) -> None:
    """Max pooling routes spikes (no synaptic operation); keras-spiking knows no pooling.

    The layer after it is charged for the spikes of the neurons before the pool (an
    upper bound: a window passes one spike per step however many of its neurons fire).
    """
    from nengo_mif.keras.convert import MAX_POOL

    for pool in MAX_POOL:
        if pool not in energy.layer_stats_computers:
            energy.register_layer(pool)(lambda node: {})


def _energy(layers: dict, n_steps: int, spiking: bool) -> dict:
    """Joules per inference: ANN devices run one dense pass, Loihi counts events."""
    import keras_spiking

    devices = keras_spiking.ModelEnergy.devices
    connections = sum(v["connections"] for v in layers.values())
    neurons = sum(v.get("neurons", 0) for v in layers.values())
    energy = {}
    for device in ENERGY_DEVICES:
        d = devices[device]
        if d["spiking"]:
            if not spiking:
                continue
            synops = sum(v["synops_per_image"] for v in layers.values())
            energy[device] = (
                d["energy_per_synop"] * synops + d["energy_per_neuron"] * neurons * n_steps
            )
        else:
            energy[device] = d["energy_per_synop"] * connections + d["energy_per_neuron"] * neurons
    return energy


def summary_line(report: dict) -> str:
    """An evaluation report in one line.

    Returns
    -------
    line : str
    """
    synapse = synapse_label(report["synapse"])
    return (
        f"{report['neuron']} {report['mode']} ({report['engine']} engine): accuracy "
        f"{report['accuracy']:.4f} on {report['n_test']} images ({report['test_source']}), "
        f"{report['n_steps']} steps of {report['dt'] * 1e3:g} ms, synapse {synapse}, "
        f"scale_firing_rates {report['scale_firing_rates']:g}, encoding {report['encoding']}"
        + (
            f", readout mean of last {report['readout_steps']} steps"
            if report["readout_steps"] > 1
            else ""
        )
    )
