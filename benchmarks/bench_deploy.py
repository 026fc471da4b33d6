"""Loihi-emulator deployment of trained reference MNIST nets (LIF and MIF).

For each run: emulator accuracy on N official test images next to the NengoDL spiking
accuracy of the trained network with the same settings, the mapping's fit error, the
resource table and emulator time per image. Writes JSON.

    python benchmarks/bench_deploy.py --runs results/bench_compare/mnist-5k/lif \\
        results/bench_compare/mnist-5k/mif --data-dir ../shared/datasets/mnist --n-test 200
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

from nengo_mif.deploy.config import DeployConfig
from nengo_mif.deploy.run import deploy, format_report
from nengo_mif.networks import checkpoint
from nengo_mif.networks.config import EvalConfig
from nengo_mif.networks.data import load_dataset
from nengo_mif.networks.evaluate import evaluate


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", nargs="+", required=True)
    p.add_argument("--data-dir", help="folder with the official MNIST t10k IDX files")
    p.add_argument("--n-test", type=int, default=200)
    p.add_argument("--n-steps", type=int, default=30)
    p.add_argument("--synapse", type=float, default=0.005)
    p.add_argument("--out", default="results/bench_deploy.json")
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore", message="No GPU support detected")

    results = []
    for run in args.runs:
        cfg = checkpoint.load_state(run)["config"]
        data = load_dataset(cfg["dataset"], args.data_dir or cfg["data_dir"])
        dl = evaluate(
            run,
            EvalConfig(n_steps=args.n_steps, synapse=args.synapse, n_test=args.n_test),
            data,
            progress=False,
        )
        report = deploy(
            run,
            DeployConfig(n_test=args.n_test, n_steps=args.n_steps, synapse=args.synapse),
            data,
            progress=False,
        )
        report["nengo_dl_trained_neuron_accuracy"] = dl["accuracy"]
        print(format_report(report))
        print(
            f"NengoDL spiking accuracy with the trained {cfg['neuron']} neurons: "
            f"{dl['accuracy']:.4f}; emulator - that = "
            f"{100 * (report['loihi_accuracy'] - dl['accuracy']):+.2f} points\n",
            flush=True,
        )
        results.append(report)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"wrote {out}")
    return {"results": results}


if __name__ == "__main__":
    main()
