"""Neuron-type comparison on real data (the seed's Table 3.2, reproduced on data we have).

For each neuron type: train rate-based on the training set minus a validation split,
choose the synapse and firing-rate scale by spiking accuracy on that validation split
(never on the test set), then report rate and spiking accuracy on the test set at
``--n-steps`` steps, with rates, spikes and energy. Writes JSON and prints a table.

    python benchmarks/bench_compare.py --dataset mnist-5k --data-dir ../shared/datasets/mnist
    python benchmarks/bench_compare.py --dataset fashion-mnist
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
import warnings
from pathlib import Path

from nengo_mif.networks import checkpoint
from nengo_mif.networks.config import EvalConfig, TrainConfig
from nengo_mif.networks.data import load_dataset
from nengo_mif.networks.evaluate import evaluate
from nengo_mif.networks.run import validation_data
from nengo_mif.networks.train import train

from nengo_mif.registry import record


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="mnist-5k")
    p.add_argument("--data-dir")
    p.add_argument("--neurons", nargs="+", default=["relu", "lif", "mif", "mif2"])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--max-train", type=int)
    p.add_argument("--validation", type=int, default=500)
    p.add_argument("--n-val", type=int, default=300, help="validation images per sweep point")
    p.add_argument("--n-test", type=int, help="test images (default: all)")
    p.add_argument("--n-steps", type=int, default=30)
    p.add_argument("--synapses", type=float, nargs="+", default=[0.005, 0.01])
    p.add_argument("--scales", type=float, nargs="+", default=[1.0, 2.0])
    p.add_argument(
        "--relu-scales",
        type=float,
        nargs="+",
        default=[100.0, 300.0],
        help="scales for spiking ReLU, whose rate in Hz is its input",
    )
    p.add_argument("--out-dir", default="results/bench_compare")
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore", message="No GPU support detected")

    out = Path(args.out_dir) / args.dataset
    test = load_dataset(args.dataset, args.data_dir)
    rows = []
    for neuron in args.neurons:
        data_dir = str(Path(args.data_dir).resolve()) if args.data_dir else None
        cfg = TrainConfig(
            dataset=args.dataset,
            data_dir=data_dir,
            neuron=neuron,
            epochs=args.epochs,
            max_train=args.max_train,
            validation=args.validation,
        )
        run_dir = out / neuron
        state = checkpoint.load_state(run_dir)
        if state is None or state["epochs_done"] < cfg.epochs:
            state = train(cfg, run_dir, resume=state is not None)
        val = validation_data(cfg)
        spiking = record(neuron).spiking
        sweep = []
        scales = args.relu_scales if spiking == "spiking-relu" else args.scales
        for synapse, scale in itertools.product(args.synapses, scales):
            r = evaluate(
                run_dir,
                EvalConfig(
                    n_steps=args.n_steps,
                    synapse=synapse,
                    scale_firing_rates=scale,
                    n_test=args.n_val,
                    neuron=spiking,
                ),
                val,
                progress=False,
            )
            sweep.append(
                dict(
                    synapse=synapse,
                    scale=scale,
                    val_accuracy=r["accuracy"],
                    synops=r["synops_per_image"],
                )
            )
            print(f"{neuron} val: synapse {synapse} scale {scale}: {r['accuracy']:.4f}", flush=True)
        best = max(sweep, key=lambda s: (s["val_accuracy"], -s["synops"]))
        start = time.perf_counter()
        rate = evaluate(run_dir, EvalConfig(mode="rate", n_test=args.n_test), test, progress=False)
        spike = evaluate(
            run_dir,
            EvalConfig(
                n_steps=args.n_steps,
                synapse=best["synapse"],
                scale_firing_rates=best["scale"],
                n_test=args.n_test,
                neuron=spiking,
            ),
            test,
            progress=False,
        )
        rows.append(
            dict(
                neuron=neuron,
                spiking_neuron=spiking,
                chosen=best,
                sweep=sweep,
                rate_accuracy=rate["accuracy"],
                spiking=spike,
                train_seconds=sum(h["seconds"] for h in state["history"]),
                eval_seconds=time.perf_counter() - start,
            )
        )
        print(f"{neuron}: rate {rate['accuracy']:.4f}, spiking {spike['accuracy']:.4f}", flush=True)

    ann = next((r["rate_accuracy"] for r in rows if r["neuron"] == "relu"), None)
    print(
        f"\n{args.dataset}: {rows[0]['spiking']['n_test']} test images "
        f"({test.test_source}), {args.n_steps} steps; synapse/scale chosen on "
        f"{args.n_val} validation images; {args.epochs} epochs"
    )
    print(
        f"{'neuron':<13}{'rate acc':>9}{'spike acc':>10}{'vs ANN':>8}{'synapse':>9}"
        f"{'scale':>6}{'Hz':>8}{'spikes/img':>11}{'loihi J':>10}"
    )
    for r in rows:
        s = r["spiking"]
        layers = [v for v in s["layers"].values() if "neurons" in v]
        hz = sum(v["mean_rate_hz"] * v["neurons"] for v in layers) / sum(
            v["neurons"] for v in layers
        )
        spikes = sum(v["spikes_per_image"] or 0 for v in layers)
        delta = "" if ann is None else f"{100 * (s['accuracy'] - ann):+.2f}"
        print(
            f"{r['spiking_neuron']:<13}{r['rate_accuracy']:>9.4f}{s['accuracy']:>10.4f}"
            f"{delta:>8}{r['chosen']['synapse']:>9g}{r['chosen']['scale']:>6g}{hz:>8.1f}"
            f"{spikes:>11.0f}{s['energy_per_inference_j'].get('loihi', float('nan')):>10.2e}"
        )
    result = dict(args=vars(args), test_source=test.test_source, ann_accuracy=ann, rows=rows)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_compare.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"wrote {out / 'bench_compare.json'}")
    return result


if __name__ == "__main__":
    main()
