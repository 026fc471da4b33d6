"""nengo-mif: compare memristive and classic spiking neurons in deep networks."""

from __future__ import annotations

import argparse
import sys
import warnings
from dataclasses import fields
from pathlib import Path


def _add_train_args(p: argparse.ArgumentParser, epochs: int = 5) -> None:
    from nengo_mif.networks.data import DATASETS
    from nengo_mif.networks.models import MODELS

    p.add_argument("--dataset", default="mnist-5k", choices=DATASETS)
    p.add_argument("--data-dir", help="folder with the dataset's files (see README)")
    p.add_argument("--model", default="mnist_cnn", choices=sorted(MODELS))
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--keras-epochs", type=int, default=0,
                   help="Keras pre-training epochs (batch-norm models need some)")
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--smoothing", type=float, default=0.01,
                   help="rate-curve smoothing at threshold (0 for none)")
    p.add_argument("--rate-reg", type=float, default=0.0,
                   help="weight of the firing-rate regulariser (0: off)")
    p.add_argument("--target-rate", type=float, default=250.0)
    p.add_argument("--max-train", type=int, help="use only the first N training images")
    p.add_argument("--seed", type=int, default=0)


def _add_eval_args(p: argparse.ArgumentParser, n_test: int = 1000) -> None:
    p.add_argument("--n-steps", type=int, default=30, help="time steps per image")
    p.add_argument("--synapse", type=float, default=0.005,
                   help="Lowpass time constant in seconds (0: no filtering)")
    p.add_argument("--scale-firing-rates", type=float, default=1.0)
    p.add_argument("--n-test", type=int, default=n_test)
    p.add_argument("--dt", type=float, default=0.001)


def _train_config(args):
    from nengo_mif.networks.train import TrainConfig

    names = {f.name for f in fields(TrainConfig)}
    kwargs = {k: v for k, v in vars(args).items() if k in names and v is not None}
    kwargs["smoothing"] = args.smoothing or None
    return TrainConfig(**kwargs)


def _eval_config(args, **overrides):
    from nengo_mif.networks.evaluate import EvalConfig

    return EvalConfig(n_steps=args.n_steps, synapse=args.synapse or None,
                      scale_firing_rates=args.scale_firing_rates, n_test=args.n_test,
                      dt=args.dt, **overrides)


def cmd_train(args) -> int:
    from nengo_mif.networks.train import train

    train(_train_config(args), args.run_dir, resume=args.resume)
    print(f"trained weights in {args.run_dir}")
    return 0


def cmd_evaluate(args) -> int:
    from nengo_mif.networks.checkpoint import atomic_write_json
    from nengo_mif.networks.evaluate import evaluate, summary_line

    report = evaluate(args.run_dir, _eval_config(args, neuron=args.neuron, mode=args.mode))
    print(summary_line(report))
    out = Path(args.out or Path(args.run_dir) / f"eval-{report['neuron']}-{report['mode']}.json")
    atomic_write_json(out, report)
    print(f"report: {out}")
    return 0


def cmd_compare(args) -> int:
    from nengo_mif.networks.compare import compare, format_table

    result = compare(args.neurons, _train_config(args), _eval_config(args), args.out_dir)
    print()
    print(format_table(result))
    print(f"\nresults and figures in {args.out_dir}")
    return 0


def cmd_demo(args) -> int:
    """Compare the neuron types on the reference MNIST net, short budget, offline data."""
    args.dataset, args.model, args.data_dir = "mnist-5k", "mnist_cnn", args.data_dir
    for name, value in dict(keras_epochs=0, batch_size=50, learning_rate=1e-3,
                            smoothing=0.01, rate_reg=0.0, target_rate=250.0,
                            max_train=None, seed=0, scale_firing_rates=1.0,
                            dt=0.001).items():
        setattr(args, name, value)
    return cmd_compare(args)


def cmd_figures(args) -> int:
    from nengo_mif.figures import all_figures

    for path in all_figures(args.out_dir):
        print(path)
    return 0


def cmd_deploy(args) -> int:
    from nengo_mif.deploy.run import deploy_command

    return deploy_command(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nengo-mif", description=__doc__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("demo", help="train and compare ReLU/LIF/MIF/MIF2 on the "
                       "embedded MNIST subset (short budget), spiking evaluation")
    p.add_argument("--neurons", nargs="+", default=["relu", "lif", "mif", "mif2"])
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--data-dir", help="folder with the official MNIST t10k IDX files "
                   "(default: test on images held out of the 5k subset)")
    p.add_argument("--out-dir", default="results/demo")
    _add_eval_args(p, n_test=300)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("train", help="train a converted network rate-based")
    p.add_argument("--neuron", default="mif")
    p.add_argument("--run-dir", required=True)
    p.add_argument("--resume", action="store_true", help="continue an interrupted run")
    _add_train_args(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="evaluate a trained run spiking (or rate)")
    p.add_argument("--run-dir", required=True)
    p.add_argument("--neuron", help="neuron type to run (default: the trained one)")
    p.add_argument("--mode", default="spiking", choices=["spiking", "rate"])
    p.add_argument("--out", help="report JSON (default: in the run dir)")
    _add_eval_args(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("compare", help="train and evaluate several neuron types; "
                       "one table, plots and JSON")
    p.add_argument("--neurons", nargs="+", default=["relu", "lif", "mif", "mif2"])
    p.add_argument("--out-dir", default="results/compare")
    _add_train_args(p)
    _add_eval_args(p)
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("figures", help="single-neuron figures: sine responses, rate curves")
    p.add_argument("--out-dir", default="results/figures")
    p.set_defaults(func=cmd_figures)

    p = sub.add_parser("deploy", help="run a trained network on Loihi (or its emulator)")
    p.add_argument("--run-dir", required=True)
    p.add_argument("--target", default="sim", choices=["sim", "loihi"])
    p.add_argument("--n-test", type=int, default=100)
    p.add_argument("--n-steps", type=int, default=30)
    p.add_argument("--synapse", type=float, default=0.005)
    p.add_argument("--block-shape", help="override, e.g. 16,16,8 for every conv layer")
    p.add_argument("--out", help="report JSON (default: in the run dir)")
    p.set_defaults(func=cmd_deploy)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    warnings.filterwarnings("ignore", message="No GPU support detected")
    import nengo_mif  # noqa: F401  (quiet TensorFlow, register builders)
    from nengo_mif.networks.data import DataError

    try:
        return args.func(args)
    except (DataError, ValueError, FileNotFoundError, FileExistsError) as e:
        print(f"nengo-mif {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

