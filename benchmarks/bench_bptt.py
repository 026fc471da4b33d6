"""BPTT benchmark: spiking nets trained through time at a few steps, next to their ANN.

For each neuron type and presentation length ``T``: train rate-based for ``--epochs``
(0: BPTT from scratch), then ``--bptt-epochs`` epochs of backpropagation through
time through every neuron's state (`--bptt-epochs`, surrogate gradients) at ``T``
steps with no synapses (each step's spikes drive the next layer at once, as in the
directly trained nets this is compared with) and the output read as its mean over
the ``T`` steps. After every BPTT epoch the net is scored on the validation split
and on the test set; the row reports the test accuracy at the epoch chosen on
validation, the accuracy against epochs, seconds and peak memory per epoch. The
ANN row is the same net trained rate-based with ReLU for the same number of
epochs. With ``--spike-aware`` each type also gets the same budget of
straight-through spike-aware epochs, for comparison. Writes JSON after every
measurement (an interrupted benchmark resumes where it stopped) and a markdown
table.

    python benchmarks/bench_bptt.py --dataset mnist-5k --data-dir ../shared/datasets/mnist
    python benchmarks/bench_bptt.py --dataset fashion-mnist --validation 5000 --steps 4
"""

from __future__ import annotations

import argparse
import json
import shutil
import warnings
from dataclasses import replace
from pathlib import Path

from nengo_mif.networks import checkpoint
from nengo_mif.networks.config import LR_SCHEDULES, EvalConfig, TrainConfig
from nengo_mif.networks.evaluate import evaluate
from nengo_mif.networks.models import MODELS
from nengo_mif.networks.run import Run, validation_data
from nengo_mif.networks.train import train

METHODS = ("bptt", "spike-aware")


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="mnist-5k")
    p.add_argument("--data-dir")
    p.add_argument("--neurons", nargs="+", default=["lif", "mif", "mif2", "relu"])
    p.add_argument("--model", default="mnist_cnn", choices=tuple(MODELS))
    p.add_argument("--steps", type=int, nargs="+", default=[4, 8])
    p.add_argument("--epochs", type=int, default=3, help="rate epochs before BPTT")
    p.add_argument("--bptt-epochs", type=int, default=4)
    p.add_argument("--spike-aware", action="store_true", help="also the same spike-aware budget")
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--bptt-learning-rate", type=float, default=5e-4)
    p.add_argument("--lr-schedule", default="constant", choices=LR_SCHEDULES)
    p.add_argument("--surrogate", default="atan")
    p.add_argument("--surrogate-width", type=float, default=0.3)
    p.add_argument("--shift", type=int, default=0)
    p.add_argument("--flip", action="store_true")
    p.add_argument("--max-train", type=int)
    p.add_argument("--validation", type=int, default=500)
    p.add_argument("--n-test", type=int, help="test images (default: all)")
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--out-dir", default="benchmarks/results/bptt")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse(argv)
    warnings.filterwarnings("ignore", message="No GPU support detected")
    out = Path(args.out_dir) / args.dataset
    out.mkdir(parents=True, exist_ok=True)
    path = out / "bench_bptt.json"
    result = json.loads(path.read_text()) if path.exists() else {}
    result.update(args=dict(vars(args)), dataset=args.dataset)
    rows = result.setdefault("rows", {})

    def save():
        checkpoint.atomic_write_json(path, result)

    base = TrainConfig(
        dataset=args.dataset,
        data_dir=str(Path(args.data_dir).resolve()) if args.data_dir else None,
        model=args.model,
        neuron="relu",
        epochs=args.epochs or args.bptt_epochs,
        learning_rate=args.learning_rate,
        lr_schedule=args.lr_schedule,
        shift=args.shift,
        flip=args.flip,
        max_train=args.max_train,
        validation=args.validation,
        batch_size=args.batch_size,
    )
    if "ann" not in rows:
        ann_dir = out / "ann"
        shutil.rmtree(ann_dir, ignore_errors=True)
        state = train(replace(base, epochs=args.epochs + args.bptt_epochs), ann_dir, verbose=False)
        report = evaluate(ann_dir, EvalConfig(mode="rate", n_test=args.n_test), progress=False)
        rows["ann"] = dict(accuracy=report["accuracy"], epochs=state["epochs_done"])
        save()
    print(f"ANN: {rows['ann']['accuracy']:.4f}", flush=True)
    for neuron in args.neurons:
        for n_steps in args.steps:
            for method in METHODS if args.spike_aware else METHODS[:1]:
                key = f"{neuron}/{method}/{n_steps}"
                if rows.get(key, {}).get("done"):
                    continue
                rows[key] = _measure(args, base, neuron, method, n_steps, out / key, rows.get(key))
                save()
    table = markdown(result)
    (out / "bench_bptt.md").write_text(table + "\n")
    save()
    print(table)
    return result


def _measure(args, base: TrainConfig, neuron: str, method: str, n_steps: int, run_dir, row):
    """Train one row epoch by epoch (resuming), scoring validation and test after each."""
    row = row or dict(per_epoch=[])
    phase = {"bptt": "bptt_epochs", "spike-aware": "spike_aware_epochs"}[method]
    config = replace(
        base,
        neuron=neuron,
        epochs=args.epochs,
        n_steps=n_steps,
        synapse=None,
        readout_steps=n_steps,
        spike_aware_learning_rate=args.bptt_learning_rate,
        surrogate=args.surrogate,
        surrogate_width=args.surrogate_width,
    )
    val = validation_data(config)
    evaluation = EvalConfig(n_steps=n_steps, synapse=0, readout_steps=n_steps, n_test=None)
    for k in range(len(row["per_epoch"]) + 1, args.bptt_epochs + 1):
        resume = (Path(run_dir) / checkpoint.STATE).exists()
        state = train(replace(config, **{phase: k}), run_dir, resume=resume, verbose=False)
        run = Run.open(run_dir)
        score_val = evaluate(run, evaluation, val, progress=False)["accuracy"]
        test = evaluate(run, replace(evaluation, n_test=args.n_test), progress=False)
        last = state["history"][-1]
        row["per_epoch"].append(
            dict(
                epoch=k,
                val_accuracy=score_val,
                test_accuracy=test["accuracy"],
                seconds=last["seconds"],
                peak_memory_mb=last.get("peak_memory_mb"),
                loss=last["loss"],
            )
        )
        print(
            f"{neuron} {method} T={n_steps} epoch {k}: val {score_val:.4f}, test "
            f"{test['accuracy']:.4f}, {last['seconds']:.0f} s, "
            f"{last.get('peak_memory_mb', 0):.0f} MB",
            flush=True,
        )
        row["rate_seconds"] = sum(h["seconds"] for h in state["history"] if h["phase"] == "rate")
        row["spikes_per_image"] = test["spikes_per_image"]
        row["test_source"] = test["test_source"]
        row["n_test"] = test["n_test"]
    best = max(row["per_epoch"], key=lambda e: (e["val_accuracy"], -e["epoch"]))
    row.update(
        done=True,
        chosen_epoch=best["epoch"],
        accuracy=best["test_accuracy"],
        seconds_per_epoch=sum(e["seconds"] for e in row["per_epoch"]) / len(row["per_epoch"]),
        peak_memory_mb=max(e["peak_memory_mb"] or 0 for e in row["per_epoch"]),
    )
    return row


def markdown(result: dict) -> str:
    """The table: a row per type, method and length, next to the ANN."""
    rows, args = result["rows"], result["args"]
    ann = rows["ann"]["accuracy"]
    lines = [
        f"BPTT on {result['dataset']} ({args['model']}, {args['epochs']} rate + "
        f"{args['bptt_epochs']} epochs through time, no synapses, output averaged over "
        f"the T steps); ANN (ReLU, {rows['ann']['epochs']} rate epochs): {100 * ann:.2f}%",
        "",
        "| type | method | T | test acc | vs ANN | epoch (val) | acc by epoch | s/epoch "
        "| peak MB | spikes/img |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, row in rows.items():
        if key == "ann" or not row.get("done"):
            continue
        neuron, method, n_steps = key.split("/")
        curve = " / ".join(f"{100 * e['test_accuracy']:.1f}" for e in row["per_epoch"])
        lines.append(
            f"| {'IF (spiking ReLU)' if neuron == 'relu' else neuron.upper()} | {method} | "
            f"{n_steps} | {100 * row['accuracy']:.2f} | {100 * (row['accuracy'] - ann):+.2f} | "
            f"{row['chosen_epoch']} | {curve} | {row['seconds_per_epoch']:.0f} | "
            f"{row['peak_memory_mb']:.0f} | {row['spikes_per_image']:,.0f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
