"""Accuracy benchmark: rate-trained vs spike-aware, 10 and 30 steps, every neuron type.

For each type (ReLU as the ANN and its spiking ReLU, LIF, MIF, MIF2): train rate-based
on the training split, choose synapse and firing-rate scale on the validation split
(`networks.tune`, stored in the run), test on the test set at 10 and 30 steps; then
continue a copy of the run with spike-aware training (`--spike-aware-epochs` at
`--train-steps`, with the chosen settings) and test it the same way. LIF and MIF are
also tested with Poisson input at 30 steps. Shorter presentations (10 steps) get their
own synapse and scale, chosen on validation at that length (not stored in the run).
Reports accuracy, spikes and synaptic operations per image, Loihi energy per image
and training time; writes JSON after
every measurement (an interrupted benchmark resumes where it stopped), a markdown
table and an accuracy-vs-energy plot.

    python benchmarks/bench_accuracy.py --dataset mnist-5k --data-dir ../shared/datasets/mnist
    python benchmarks/bench_accuracy.py --dataset fashion-mnist --validation 5000
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import time
import warnings
from dataclasses import replace
from pathlib import Path

from nengo_mif.networks import checkpoint
from nengo_mif.networks.checkpoint import chosen_on_validation
from nengo_mif.networks.config import (
    LR_SCHEDULES,
    EvalConfig,
    TrainConfig,
    for_run,
    synapse_label,
)
from nengo_mif.networks.evaluate import evaluate
from nengo_mif.networks.models import MODELS
from nengo_mif.networks.run import Run
from nengo_mif.networks.train import train
from nengo_mif.networks.tune import tune

from nengo_mif.registry import record

MODES = ("rate-trained", "spike-aware")


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="mnist-5k")
    p.add_argument("--data-dir")
    p.add_argument("--neurons", nargs="+", default=["relu", "lif", "mif", "mif2"])
    p.add_argument("--model", default="mnist_cnn", choices=tuple(MODELS))
    p.add_argument("--epochs", type=int, default=15, help="rate epochs")
    p.add_argument("--shift", type=int, default=0, help="augmentation: random shifts, pixels")
    p.add_argument("--flip", action="store_true", help="augmentation: random left-right flips")
    p.add_argument("--lr-schedule", default="constant", choices=LR_SCHEDULES)
    p.add_argument("--spike-aware-epochs", type=int, default=2)
    p.add_argument("--spike-aware-learning-rate", type=float, help="default: Adam's 1e-3")
    p.add_argument(
        "--train-readouts", type=int, nargs="*", help="spike-aware loss also at these steps"
    )
    p.add_argument("--train-steps", type=int, default=10, help="steps in spike-aware training")
    p.add_argument(
        "--spike-aware-max-train", type=int, help="spike-aware training on the first N images"
    )
    p.add_argument("--max-train", type=int, help="rate training on the first N images")
    p.add_argument("--validation", type=int, default=500)
    p.add_argument("--n-val", type=int, default=500, help="validation images per sweep point")
    p.add_argument("--n-test", type=int, help="test images (default: all)")
    p.add_argument("--steps", type=int, nargs="+", default=[10, 30])
    p.add_argument("--poisson", nargs="*", default=["lif", "mif"], help="also Poisson input")
    p.add_argument(
        "--modes", nargs="+", choices=MODES, default=list(MODES), help="which rows to measure"
    )
    p.add_argument(
        "--retune",
        action="store_true",
        help="choose the settings on validation again (after the tuning grid changed) and "
        "measure the rows of --neurons and --modes again; trained runs are kept (an "
        "interrupted --retune resumes without it)",
    )
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--out-dir", default="benchmarks/results/accuracy")
    p.add_argument(
        "--report-only",
        action="store_true",
        help="rewrite the table and plot of --neurons from the saved JSON; run nothing",
    )
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse(argv)
    warnings.filterwarnings("ignore", message="No GPU support detected")
    out = Path(args.out_dir) / args.dataset
    out.mkdir(parents=True, exist_ok=True)
    result_path = out / "bench_accuracy.json"
    result = json.loads(result_path.read_text()) if result_path.exists() else {}
    if args.report_only:
        if not result:
            raise SystemExit(f"--report-only: no results in {result_path}; run the benchmark")
        result["args"]["neurons"] = args.neurons
    else:
        if args.retune:
            _forget(result, args)
        result.update(args=dict(vars(args)), dataset=args.dataset)
        _measure(args, result, result_path)
    table = markdown(result)
    (out / "bench_accuracy.md").write_text(table + "\n")
    result["plot"] = str(plot(result, out / "accuracy_vs_energy.png"))
    checkpoint.atomic_write_json(result_path, result)
    print(table)
    return result


def _measure(args, result: dict, result_path: Path) -> None:
    """Train, tune and test every type; ``result`` is saved after each measurement."""
    rows = result.setdefault("rows", {})
    runs = result.setdefault("runs", {})
    stale = result.setdefault("stale", {})

    def save():
        checkpoint.atomic_write_json(result_path, result)

    out = result_path.parent
    data_dir = str(Path(args.data_dir).resolve()) if args.data_dir else None
    for neuron in args.neurons:
        cfg = TrainConfig(
            dataset=args.dataset,
            data_dir=data_dir,
            model=args.model,
            neuron=neuron,
            epochs=args.epochs,
            max_train=args.max_train,
            shift=args.shift,
            flip=args.flip,
            lr_schedule=args.lr_schedule,
            validation=args.validation,
            batch_size=args.batch_size,
        )
        rate_dir, aware_dir = out / neuron / "rate", out / neuron / "spike-aware"
        _train(cfg, rate_dir)
        run = Run.open(rate_dir)
        pending = result.setdefault("retune", [])
        if not chosen_on_validation(run.state) or neuron in pending:
            tune(rate_dir, n_val=args.n_val, config=EvalConfig(n_steps=max(args.steps)))
            if neuron in pending:
                pending.remove(neuron)
            save()
            run = Run.open(rate_dir)
        settings = run.state["settings"]
        print(f"{neuron}: chosen on validation: {_settings_text(settings)}", flush=True)
        if args.spike_aware_epochs:
            if not aware_dir.exists():
                shutil.copytree(rate_dir, aware_dir)
            aware = replace(
                cfg,
                spike_aware_epochs=args.spike_aware_epochs,
                n_steps=args.train_steps,
                synapse=settings["synapse"],
                scale_firing_rates=settings["scale_firing_rates"],
                max_train=args.spike_aware_max_train or args.max_train,
                spike_aware_learning_rate=args.spike_aware_learning_rate,
                train_readouts=tuple(args.train_readouts or ()) or None,
            )
            _train(aware, aware_dir)
        data = run.data
        for mode, run_dir in zip(MODES, (rate_dir, aware_dir)):
            if mode not in args.modes or not (run_dir / checkpoint.STATE).exists():
                continue
            state = checkpoint.load_state(run_dir)
            runs[f"{neuron}/{mode}"] = dict(
                settings=state.get("settings"),
                history=state["history"],
                train_seconds=sum(h["seconds"] for h in state["history"]),
            )
            encodings = [("analog", n) for n in args.steps]
            if neuron in args.poisson:
                encodings.append(("poisson", max(args.steps)))
            for encoding, n_steps in encodings:
                key = f"{neuron}/{mode}/{encoding}/{n_steps}"
                if key in rows:
                    continue
                start = time.perf_counter()
                config = EvalConfig(
                    n_steps=n_steps,
                    n_test=args.n_test or len(data.x_test),
                    batch_size=args.batch_size,
                    encoding=encoding,
                )
                if n_steps != max(args.steps):
                    # a shorter presentation gets its own settings, chosen on validation
                    best = tune(
                        run_dir,
                        n_val=args.n_val,
                        config=replace(config, encoding=None),
                        store=False,
                    )
                    print(f"{key}: chosen on validation: {_settings_text(best)}", flush=True)
                    config = replace(
                        config,
                        synapse=best["synapse"],
                        scale_firing_rates=best["scale_firing_rates"],
                    )
                kept = stale.pop(key, None)
                if kept is not None and _same_measurement(kept, state, config, neuron):
                    rows[key] = kept  # the same weights, re-tuned to the same settings
                    print(f"{key}: same weights and settings, row kept", flush=True)
                    save()
                    continue
                report = evaluate(run_dir, config, data, progress=False)
                rows[key] = _row(report, time.perf_counter() - start, state)
                print(f"{key}: {rows[key]['accuracy']:.4f}", flush=True)
                save()
            stale.pop(f"{neuron}/{mode}/rate", None)  # cheap: always measured again
            if f"{neuron}/{mode}/rate" not in rows:  # the same weights as a rate net
                rate = evaluate(run_dir, EvalConfig(mode="rate", n_test=None), data, progress=False)
                rows[f"{neuron}/{mode}/rate"] = _row(rate, 0.0, state)
                save()
        result["test_source"] = data.test_source
        save()


def _forget(result: dict, args: argparse.Namespace) -> None:
    """Set aside the rows of ``--neurons`` x ``--modes``; their rate runs are tuned anew.

    A row whose weights and settings come out the same is kept, not measured again. An
    interrupted ``--retune`` resumes without ``--retune`` (with it, it starts over).
    """
    rows, stale = result.get("rows", {}), result.setdefault("stale", {})
    for key in list(rows):
        neuron, mode = key.split("/")[:2]
        if neuron in args.neurons and mode in args.modes:
            stale[key] = rows.pop(key)
    if "rate-trained" in args.modes:
        result["retune"] = sorted(set(result.get("retune", [])) | set(args.neurons))


def _trained(state: dict) -> list:
    """What identifies a run's weights: its finished epochs and their last loss."""
    return [state["epochs_done"], state["history"][-1]["loss"]]


def _same_measurement(row: dict, state: dict, config: EvalConfig, neuron: str) -> bool:
    """Whether a measured row ran these weights with ``config``, as `evaluate` resolves it.

    Rows from before the weights were recorded are matched on their settings alone.
    """
    config = for_run(config, state.get("settings", {}))
    scale = config.scale_firing_rates * record(neuron).spiking_scale
    return (
        row.get("trained", _trained(state)) == _trained(state)
        and row["synapse"] == config.synapse
        and math.isclose(row["scale_firing_rates"], scale)
    )


def _train(cfg: TrainConfig, run_dir: Path) -> None:
    state = checkpoint.load_state(run_dir)
    if state is None or state["epochs_done"] < len(cfg.phases()):
        train(cfg, run_dir, resume=state is not None)


def _settings_text(settings: dict) -> str:
    return (
        f"synapse {synapse_label(settings['synapse'])}, scale "
        f"{settings['scale_firing_rates']:g}"
        + (f" (val acc {settings['val_accuracy']:.4f})" if "val_accuracy" in settings else "")
    )


def _row(report: dict, seconds: float, state: dict) -> dict:
    return dict(
        trained=_trained(state),
        accuracy=report["accuracy"],
        accuracy_per_step=report["accuracy_per_step"],
        n_test=report["n_test"],
        n_steps=report["n_steps"],
        neuron=report["neuron"],
        synapse=report["synapse"],
        scale_firing_rates=report["scale_firing_rates"],
        spikes_per_image=report["spikes_per_image"],
        synops_per_image=report["synops_per_image"],
        loihi_j=report["energy_per_inference_j"].get("loihi"),
        eval_seconds=seconds,
    )


def markdown(result: dict) -> str:
    """The benchmark as a markdown table (one row per type and training mode).

    Returns
    -------
    table : str
    """
    rows, runs = result["rows"], result["runs"]
    steps = result["args"]["steps"]
    lo, hi = min(steps), max(steps)
    ann = rows.get("relu/rate-trained/rate", {}).get("accuracy")
    n_test = next(iter(rows.values()))["n_test"] if rows else 0
    arg = result["args"]
    recipe = (
        f"Recipe: {arg.get('model', 'mnist_cnn')}, {_count(arg['epochs'], 'rate epoch')} "
        f"(shift {arg.get('shift', 0)} px"
        + (", flips" if arg.get("flip") else "")
        + (", cosine learning rate" if arg.get("lr_schedule") == "cosine" else "")
        + "); "
        f"{_count(arg['spike_aware_epochs'], 'spike-aware epoch')} at {arg['train_steps']} "
        "steps, "
        f"lr {arg.get('spike_aware_learning_rate') or 1e-3:g}"
        + (
            f", loss also at step(s) {', '.join(map(str, arg['train_readouts']))}"
            if arg.get("train_readouts")
            else ""
        )
        + (
            f", on {arg['spike_aware_max_train']} images"
            if arg.get("spike_aware_max_train")
            else ""
        )
    )
    lines = [
        f"{result['dataset']}: {n_test} test images ({result.get('test_source', '')}); "
        f"ANN (ReLU, rate) {100 * ann:.2f}%"
        if ann is not None
        else result["dataset"],
        "",
        recipe,
        "",
        f"| type | training | rate net | acc {lo} steps | vs ANN | acc {hi} steps | vs ANN | "
        f"Poisson {hi} | "
        f"spikes/img ({hi}) | synops/img | Loihi J/img | settings {lo} | settings {hi} | "
        "train s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for neuron in result["args"]["neurons"]:
        spiking = record(neuron).spiking
        for mode in MODES:
            a, b = (
                rows.get(f"{neuron}/{mode}/analog/{lo}"),
                rows.get(f"{neuron}/{mode}/analog/{hi}"),
            )
            if b is None:
                continue
            p = rows.get(f"{neuron}/{mode}/poisson/{hi}")
            lines.append(
                f"| {spiking} | {_mode(mode, runs[f'{neuron}/{mode}'])} "
                f"| {_pct(rows.get(f'{neuron}/{mode}/rate'))} | {_pct(a)} | "
                f"{_vs(a, ann)} | {_pct(b)} | {_vs(b, ann)} | "
                f"{_pct(p)} | {b['spikes_per_image']:,.0f} | {b['synops_per_image']:.3g} | "
                f"{b['loihi_j']:.3g} | {_settings(a)} | {_settings(b)} | "
                f"{runs[f'{neuron}/{mode}']['train_seconds']:.0f} |"
            )
    return "\n".join(lines)


def _mode(mode: str, run: dict) -> str:
    """The training mode, with the spike-aware epochs the run actually had."""
    n = sum(h.get("phase") == "spike-aware" for h in run["history"])
    return f"{mode} ({_count(n, 'epoch')})" if n else mode


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def _vs(row: dict | None, ann: float | None) -> str:
    return "-" if row is None or ann is None else f"{100 * (row['accuracy'] - ann):+.2f}"


def _settings(row: dict | None) -> str:
    if row is None:
        return "-"
    return f"{synapse_label(row['synapse'])} x{row['scale_firing_rates']:g}"


def _pct(row: dict | None) -> str:
    return "-" if row is None else f"{100 * row['accuracy']:.2f}"


def plot(result: dict, path: Path) -> Path:
    """Accuracy at the longest presentation vs Loihi energy per image, a point per type/mode.

    Returns
    -------
    path : Path
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hi = max(result["args"]["steps"])
    fig, ax = plt.subplots(figsize=(6, 4))
    for mode, marker in zip(MODES, ("o", "*")):
        for neuron in result["args"]["neurons"]:
            row = result["rows"].get(f"{neuron}/{mode}/analog/{hi}")
            if row is None:
                continue
            ax.scatter(row["loihi_j"], 100 * row["accuracy"], marker=marker, s=70)
            ax.annotate(
                f"{record(neuron).spiking} ({mode})",
                (row["loihi_j"], 100 * row["accuracy"]),
                fontsize=7,
                xytext=(4, 2),
                textcoords="offset points",
            )
    ann = result["rows"].get("relu/rate-trained/rate")
    if ann:
        ax.axhline(100 * ann["accuracy"], color="grey", ls="--", lw=1, label="ANN")
        ax.legend(loc="lower right")
    ax.set_xscale("log")
    ax.set_xlabel("Loihi energy per image (J, keras-spiking's device model)")
    ax.set_ylabel(f"test accuracy at {hi} steps (%)")
    ax.set_title(result["dataset"])
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


if __name__ == "__main__":
    main()
