"""Train and evaluate several neuron types on one network; one table, plots and JSON.

This is the researcher's main question: which neuron type, which synapse, how many
time steps, at what accuracy and what cost. Each type trains into its own run
directory (resumable); the results land next to the figures as ``compare.json``.
With held-out validation images (``validation > 0``), each type's synapse,
firing-rate scale and readout are first chosen on them (`networks.tune`, stored in
the run) wherever the evaluation settings leave them open.
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from nengo_mif.networks import checkpoint  # noqa: E402
from nengo_mif.networks.checkpoint import chosen_on_validation  # noqa: E402
from nengo_mif.networks.config import EvalConfig, TrainConfig, synapse_label  # noqa: E402
from nengo_mif.networks.evaluate import evaluate  # noqa: E402
from nengo_mif.networks.run import Run  # noqa: E402
from nengo_mif.networks.train import LoihiTarget, train  # noqa: E402
from nengo_mif.networks.tune import tune  # noqa: E402

from nengo_mif.registry import record  # noqa: E402


def compare(
    neurons: list[str],
    train_config: TrainConfig,
    eval_config: EvalConfig,
    out_dir: str | Path,
    verbose: bool = True,
    loihi: LoihiTarget | None = None,
) -> dict:
    """Train (or resume) each neuron type, evaluate it rate-based and spiking.

    Every name is checked before any work starts, and ``compare.json`` is rewritten
    after each type, so a failure later loses nothing finished. ``loihi``: as for
    `train`, needed with Loihi epochs.

    Returns
    -------
    result : dict
        Settings and one row per neuron type.
    """
    out_dir = Path(out_dir)
    for neuron in neurons:
        record(neuron)
    configs = [replace(train_config, neuron=neuron) for neuron in neurons]
    checkpoint.check_writable(out_dir)
    data = None
    result = dict(train=asdict(train_config), eval=asdict(eval_config), rows=[])
    for neuron, cfg in zip(neurons, configs):
        run_dir = out_dir / neuron
        state = checkpoint.load_state(run_dir)
        if state is None or state["epochs_done"] < len(cfg.phases()):
            if verbose:
                print(f"== training {neuron} ({len(cfg.phases())} epochs) in {run_dir}", flush=True)
            train(cfg, run_dir, resume=state is not None, verbose=verbose, loihi=loihi)
        run = Run.open(run_dir)
        if cfg.validation and not chosen_on_validation(run.state):
            tune(run_dir, config=eval_config, **_grid(eval_config))
            run = Run.open(run_dir)
        data = data or run.data  # loaded once for every type
        rate = evaluate(run, replace(eval_config, mode="rate"), data, progress=verbose)
        spiking = evaluate(run, eval_config, data, progress=verbose)
        result["rows"].append(
            dict(
                neuron=neuron,
                spiking_neuron=spiking["neuron"],
                rate_accuracy=rate["accuracy"],
                spiking=spiking,
                train_seconds=sum(h["seconds"] for h in run.state["history"]),
                epochs=run.state["epochs_done"],
            )
        )
        result.update(dataset=data.name, test_source=data.test_source)
        checkpoint.atomic_write_json(out_dir / "compare.json", result)
        if verbose:
            print(table_row(result["rows"][-1]), flush=True)
    result["figures"] = [str(p) for p in plot(result, out_dir)]
    checkpoint.atomic_write_json(out_dir / "compare.json", result)
    return result


def _grid(config: EvalConfig) -> dict:
    """The tuning grid: a setting given explicitly is not swept."""
    grid = {}
    if config.synapse is not None:
        grid["synapses"] = (config.synapse,)
    if config.scale_firing_rates is not None:
        grid["scales"] = (config.scale_firing_rates,)
    if config.readout_steps is not None:
        grid["readout_steps"] = (config.readout_steps,)
    return grid


HEADER = (
    f"{'neuron':<13}{'rate acc':>9}{'spike acc':>10}{'steps':>6}{'scale':>6}{'rate Hz':>9}"
    f"{'spikes/img':>12}{'synops/img':>12}{'loihi J':>10}{'train s':>9}"
)


def table_row(row: dict) -> str:
    """One neuron type's row of the comparison table (fixed-width text).

    Returns
    -------
    row : str
    """
    s = row["spiking"]
    layers = [v for v in s["layers"].values() if "neurons" in v]
    mean_rate = sum(v["mean_rate_hz"] * v["neurons"] for v in layers) / max(
        1, sum(v["neurons"] for v in layers)
    )
    loihi = s["energy_per_inference_j"].get("loihi", float("nan"))
    return (
        f"{row['spiking_neuron']:<13}{row['rate_accuracy']:>9.4f}{s['accuracy']:>10.4f}"
        f"{s['n_steps']:>6}{s['scale_firing_rates']:>6g}{mean_rate:>9.1f}{s['spikes_per_image']:>12.0f}{s['synops_per_image']:>12.3g}"
        f"{loihi:>10.2e}{row['train_seconds']:>9.1f}"
    )


def format_table(result: dict) -> str:
    """The comparison as a fixed-width text table, with its data and settings.

    Returns
    -------
    table : str
    """
    e = result["eval"]
    labels = {synapse_label(row["spiking"]["synapse"]) for row in result["rows"]}
    synapse = labels.pop() if len(labels) == 1 else "per run (stored settings)"
    counts = {row["spiking"]["n_steps"] for row in result["rows"]}
    steps = counts.pop() if len(counts) == 1 else "per run"
    lines = [
        f"{result['dataset']}: tested on {result['rows'][0]['spiking']['n_test']} images "
        f"({result['test_source']}); spiking: {steps} steps of "
        f"{e['dt'] * 1e3:g} ms, synapse {synapse}; rate acc: the trained rate network",
        HEADER,
    ]
    lines += [table_row(row) for row in result["rows"]]
    return "\n".join(lines)


def plot(result: dict, out_dir: Path) -> list[Path]:
    """Accuracy vs time steps, mean rate per layer, confusion matrices.

    Returns
    -------
    paths : list of Path
    """
    rows = result["rows"]
    paths = []
    fig, ax = plt.subplots(figsize=(7, 4.5), constrained_layout=True)
    for row in rows:
        acc = row["spiking"]["accuracy_per_step"]
        ax.plot(np.arange(1, len(acc) + 1), acc, label=row["spiking_neuron"])
    ax.set(
        xlabel="time steps",
        ylabel="test accuracy",
        ylim=(0, 1),
        title="Spiking accuracy vs time steps",
    )
    ax.legend()
    paths.append(out_dir / "accuracy_vs_steps.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4.5), constrained_layout=True)
    width = 0.8 / len(rows)
    for i, row in enumerate(rows):
        layers = {k: v for k, v in row["spiking"]["layers"].items() if "neurons" in v}
        x = np.arange(len(layers)) + i * width
        ax.bar(x, [v["mean_rate_hz"] for v in layers.values()], width, label=row["spiking_neuron"])
        ax.set_xticks(np.arange(len(layers)) + 0.4 - width / 2, list(layers))
    ax.set(ylabel="mean firing rate (Hz)", title="Firing rate per layer", yscale="log")
    ax.legend()
    paths.append(out_dir / "rates_per_layer.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    fig, axes = plt.subplots(
        1, len(rows), figsize=(3.2 * len(rows), 3.4), constrained_layout=True, squeeze=False
    )
    for ax, row in zip(axes[0], rows):
        ax.imshow(np.array(row["spiking"]["confusion"]), cmap="Blues")
        ax.set(title=row["spiking_neuron"], xlabel="predicted", ylabel="true")
    paths.append(out_dir / "confusion.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    return paths


def load(out_dir: str | Path) -> dict:
    """A saved comparison report.

    Returns
    -------
    report : dict
    """
    with open(Path(out_dir) / "compare.json") as f:
        return json.load(f)
