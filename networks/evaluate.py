"""Spiking (or rate) evaluation of a trained run: accuracy over time, activity, energy.

The network is rebuilt from the run's configuration with a Lowpass synapse on every
connection and on the output probe, ``scale_firing_rates`` and the number of time
steps the image is shown for. Accuracy is read at every step, so one run gives the
whole accuracy-vs-time curve. Synaptic operations count the spikes each layer
receives times the fan-out of the connection; energy per inference uses
keras-spiking's device table (`keras_spiking.ModelEnergy.devices`).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import keras_spiking
import nengo_dl
import numpy as np
import tensorflow as tf
from nengo_mif.networks.data import Dataset, load_dataset
from nengo_mif.networks.neuron_types import neuron_type
from nengo_mif.networks.train import (
    conversion_model,
    convert,
    flat,
    load_trained,
    run_config,
)
from tqdm.auto import tqdm

ENERGY_DEVICES = ("cpu", "gpu", "loihi")


@dataclass
class EvalConfig:
    n_steps: int = 30
    synapse: float | None = 0.005  # Lowpass time constant (s); None: no filtering
    scale_firing_rates: float = 1.0
    n_test: int | None = 1000  # None: the whole test set
    batch_size: int = 50
    dt: float = 0.001
    neuron: str | None = None  # evaluate with another type than trained (e.g. relu -> spiking-relu)
    mode: str = "spiking"  # or "rate": the trained rate network, one step

    def __post_init__(self):
        if self.n_steps < 1:
            raise ValueError(f"n_steps must be >= 1; got {self.n_steps}")
        if self.synapse is not None and self.synapse < 0:
            raise ValueError(f"synapse must be >= 0 seconds or None; got {self.synapse}")
        if self.scale_firing_rates <= 0:
            raise ValueError(f"scale_firing_rates must be > 0; got {self.scale_firing_rates}")
        if self.mode not in ("spiking", "rate"):
            raise ValueError(f"mode must be 'spiking' or 'rate'; got {self.mode!r}")
        if self.neuron is not None:
            neuron_type(self.neuron)


def evaluate(run_dir: str | Path, config: EvalConfig, data: Dataset | None = None,
             progress: bool = True) -> dict:
    """Evaluate a trained run; returns a JSON-ready report."""
    train_cfg = run_config(run_dir)
    data = data or load_dataset(train_cfg.dataset, train_cfg.data_dir)
    n_test = len(data.x_test) if config.n_test is None else min(config.n_test, len(data.x_test))
    batch = min(config.batch_size, n_test)
    n_test = (n_test // batch) * batch
    x, y = data.x_test[:n_test], data.y_test[:n_test]

    neuron = config.neuron or train_cfg.neuron
    rate = config.mode == "rate"
    n_steps = 1 if rate else config.n_steps
    model = conversion_model(train_cfg, data.input_shape, data.n_classes)
    conv = convert(model, neuron, synapse=None if rate else config.synapse,
                   scale_firing_rates=None if rate else config.scale_firing_rates,
                   probe_layers=True)
    if rate:
        with conv.net:
            nengo_dl.configure_settings(learning_phase=True)
    load_trained(conv, run_dir)
    kind = neuron_type(neuron)
    amplitude = getattr(kind, "amplitude", 1.0) / (1.0 if rate else config.scale_firing_rates)
    spiking = kind.spiking and not rate

    correct = np.zeros(n_steps)
    confusion = np.zeros((data.n_classes, data.n_classes), dtype=np.int64)
    activity = {name: 0.0 for name in conv.layer_probes}
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="No GPU support detected")
        sim = nengo_dl.Simulator(conv.net, minibatch_size=batch, dt=config.dt,
                                 progress_bar=False)
    with sim:
        batches = range(0, n_test, batch)
        for i in tqdm(batches, desc=f"{neuron} {config.mode}", disable=not progress,
                      leave=False):
            xb = np.tile(flat(x[i:i + batch]), (1, n_steps, 1))
            out = sim.predict_on_batch({conv.input: xb})
            pred = out[conv.output].argmax(axis=-1)  # (batch, n_steps)
            correct += (pred == y[i:i + batch, None]).sum(axis=0)
            np.add.at(confusion, (y[i:i + batch], pred[:, -1]), 1)
            for name, probe in conv.layer_probes.items():
                # spikes (or rate-seconds) per neuron, summed over images and time
                activity[name] += out[probe].sum() * config.dt / amplitude
    seconds = time.perf_counter() - start

    layers = _layer_report(model, activity, n_test, n_steps * config.dt, spiking)
    accuracy_per_step = (correct / n_test).tolist()
    return dict(
        run_dir=str(run_dir), dataset=data.name, test_source=data.test_source,
        n_test=n_test, trained_neuron=train_cfg.neuron, neuron=neuron,
        **{k: v for k, v in asdict(config).items() if k not in ("neuron", "n_test", "n_steps")},
        n_steps=n_steps, accuracy=accuracy_per_step[-1],
        accuracy_per_step=accuracy_per_step, layers=layers,
        synops_per_image=sum(v["synops_per_image"] for v in layers.values()),
        energy_per_inference_j=_energy(model, layers, n_steps, spiking),
        confusion=confusion.tolist(), seconds=seconds,
    )


def _layer_report(model: tf.keras.Model, activity: dict, n_images: int,
                  duration: float, spiking: bool) -> dict:
    """Per weighted layer: neurons, rates, spikes and synaptic events per image."""
    stats = keras_spiking.ModelEnergy(model).layer_stats
    report, events_in = {}, None  # events arriving at the next layer, per image
    for layer in model.layers:
        if layer not in stats or not stats[layer]["connections"]:
            continue
        n_in = int(np.prod(layer.input_shape[1:]))
        # the image enters as a rate, an event per pixel per step (as keras-spiking)
        arriving = n_in * duration / 1e-3 if events_in is None else events_in
        synops = arriving * stats[layer]["connections"] / n_in
        entry = dict(connections=int(stats[layer]["connections"]), synops_per_image=synops)
        if layer.name in activity:
            n = int(stats[layer]["neurons"])
            per_image = activity[layer.name] / n_images
            entry.update(neurons=n, mean_rate_hz=per_image / n / duration,
                         spikes_per_image=per_image if spiking else None)
            events_in = per_image if spiking else n * duration / 1e-3
        report[layer.name] = entry
    return report


def _energy(model, layers: dict, n_steps: int, spiking: bool) -> dict:
    """Joules per inference: ANN devices run one dense pass, Loihi counts events."""
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
            energy[device] = d["energy_per_synop"] * synops + d["energy_per_neuron"] * neurons * n_steps
        else:
            energy[device] = d["energy_per_synop"] * connections + d["energy_per_neuron"] * neurons
    return energy


def summary_line(report: dict) -> str:
    synapse = "none" if report["synapse"] is None else f"Lowpass({report['synapse']:g} s)"
    return (f"{report['neuron']} {report['mode']}: accuracy {report['accuracy']:.4f} on "
            f"{report['n_test']} images ({report['test_source']}), "
            f"{report['n_steps']} steps of {report['dt'] * 1e3:g} ms, synapse {synapse}, "
            f"scale_firing_rates {report['scale_firing_rates']:g}")
