"""Loihi-emulator deployment of trained nets, naive and Loihi-aware (issue 14).

For each trained run (LIF, MIF, MIF2, ReLU -> spiking ReLU): the spiking accuracy of
the trained neurons (Keras engine), the accuracy of the deployed neurons (Loihi's
types; MIF/MIF2 as their fitted Loihi LIF) in NengoDL, and on the Loihi emulator, all
on the same images with the same settings; image-by-image agreement, fit error,
resources and emulator seconds per image. Then the same after ``--loihi-epochs``
of fine-tuning against the deployed neurons (a copy of the run). Writes JSON and a
markdown table.

    python benchmarks/bench_deploy.py --runs results/compare/relu results/compare/lif \\
        results/compare/mif results/compare/mif2 --n-test 200 --loihi-epochs 2
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
import warnings
from dataclasses import replace
from pathlib import Path

from nengo_mif.deploy.config import DeployConfig
from nengo_mif.deploy.run import deploy, format_report
from nengo_mif.deploy.training import LOIHI
from nengo_mif.networks.config import EvalConfig
from nengo_mif.networks.evaluate import evaluate
from nengo_mif.networks.run import Run
from nengo_mif.networks.train import train


def measure(run_dir: Path, args, mode: str) -> dict:
    run = Run.open(run_dir)
    data = run.data
    trained = evaluate(
        run,
        EvalConfig(n_steps=args.n_steps, synapse=args.synapse, n_test=args.n_test),
        data,
        progress=False,
    )
    config = DeployConfig(n_test=args.n_test, n_steps=args.n_steps, synapse=args.synapse)
    report = deploy(run_dir, config, data, progress=False)
    print(format_report(report))
    res = report["resources"]
    return dict(
        neuron=run.config.neuron,
        mode=mode,
        n_test=report["n_test"],
        test_source=report["test_source"],
        trained_spiking_accuracy=trained["accuracy"],
        deployed_nengo_dl_accuracy=report["nengo_dl_accuracy"],
        emulator_accuracy=report["loihi_accuracy"],
        agreement=report["agreement"],
        fit_rms_error=report["mapping"]["rms_error"] if report["mapping"] else None,
        cores=res["cores"],
        chips=res["chips"],
        compartments=sum(r["compartments"] for r in res["layers"].values()),
        in_axons=sum(r["in_axons"] for r in res["layers"].values()),
        synapse_bits=sum(r["synapse_bits"] for r in res["layers"].values()),
        layers=res["layers"],
        seconds_per_image=report["seconds_per_image"],
    )


def table(rows: list[dict]) -> str:
    head = (
        "| net | training | trained neurons, spiking | deployed neurons, NengoDL | emulator "
        "| emulator - trained | agreement | fit error | cores | compartments | synapse bits "
        "| s/image |\n|---|---|---|---|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for r in rows:
        fit = f"{100 * r['fit_rms_error']:.1f}%" if r["fit_rms_error"] is not None else "-"
        lines.append(
            f"| {r['neuron']} | {r['mode']} | {100 * r['trained_spiking_accuracy']:.1f} "
            f"| {100 * r['deployed_nengo_dl_accuracy']:.1f} | {100 * r['emulator_accuracy']:.1f} "
            f"| {100 * (r['emulator_accuracy'] - r['trained_spiking_accuracy']):+.1f} "
            f"| {r['agreement']:.3f} | {fit} | {r['cores']} | {r['compartments']} "
            f"| {r['synapse_bits']} | {r['seconds_per_image']:.2f} |"
        )
    return "\n".join(lines)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", nargs="+", required=True)
    p.add_argument("--n-test", type=int, default=200)
    p.add_argument("--n-steps", type=int, default=30)
    p.add_argument("--synapse", type=float, default=0.005)
    p.add_argument("--loihi-epochs", type=int, default=2, help="0: naive deployment only")
    p.add_argument("--out", default="benchmarks/results/bench_deploy")
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore")

    rows = []
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for run_dir in map(Path, args.runs):
        rows.append(measure(run_dir, args, "rate (naive)"))
        if args.loihi_epochs:
            tuned = run_dir.with_name(f"{run_dir.name}-loihi")
            shutil.rmtree(tuned, ignore_errors=True)
            shutil.copytree(run_dir, tuned)
            run = Run.open(tuned)
            start = time.perf_counter()
            train(
                replace(run.config, loihi_epochs=args.loihi_epochs),
                tuned,
                resume=True,
                verbose=False,
                loihi=LOIHI,
            )
            row = measure(tuned, args, f"+{args.loihi_epochs} Loihi epochs")
            row["fine_tune_seconds"] = time.perf_counter() - start
            rows.append(row)
        out.with_suffix(".json").write_text(json.dumps(rows, indent=2, default=str) + "\n")
        out.with_suffix(".md").write_text(table(rows) + "\n")
        print(table(rows), flush=True)
    print(f"wrote {out}.json and {out}.md")
    return {"results": rows}


if __name__ == "__main__":
    main()
