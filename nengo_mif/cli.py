"""nengo-mif: compare memristive and classic spiking neurons in deep networks.

The options of each command are generated from the config dataclasses
(`networks.config`, `deploy.config`), so every default lives in one place. Bad
input ends in one line naming the setting or file and the fix, with exit code 2.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Iterable
from dataclasses import Field, fields
from pathlib import Path

from nengo.exceptions import ValidationError

from nengo_mif.exceptions import CheckpointError, NengoMifError

#: the errors that are the user's to fix: reported in one line, exit code 2. Ours all
#: derive from NengoMifError; besides them the jobs pass on nengo's ValidationError (a
#: neuron parameter out of range)
USER_ERRORS: tuple[type[Exception], ...] = (NengoMifError, ValidationError)


def _add_fields(
    p: argparse.ArgumentParser,
    classes: Iterable[type],
    skip: Iterable[str] = (),
    defaults: dict | None = None,
) -> None:
    """One option per declared setting of the config ``classes``; where two declare the
    same setting, the first one's (its default and help) is the option."""
    defaults = defaults or {}
    added = set(skip)
    for cls in classes:
        for f in fields(cls):
            if f.name in added or "allowed" not in f.metadata:
                continue
            added.add(f.name)
            _add_option(p, f, defaults)


def _add_option(p: argparse.ArgumentParser, f: Field, defaults: dict) -> None:
    """The option of setting ``f``: parsed, bounded and described by its declaration
    (`nengo_mif.networks.config.setting`), its default overridden by ``defaults``."""
    from nengo_mif.settings import option

    meta = f.metadata
    # argparse %-formats help text: a literal % must be doubled
    text = meta["help"].replace("%", "%%")
    if meta["parse"] is None:  # a boolean setting: a flag
        p.add_argument(option(f.name), action="store_true", help=text)
        return
    allowed = meta["allowed"]
    default = defaults.get(f.name, f.default)
    shown = default if f.name in defaults else meta["default_help"] or default
    rule = allowed.rule()
    notes = [rule] if rule else []
    notes.append(f"default: {shown}".replace("%", "%%"))
    p.add_argument(
        option(f.name),
        type=meta["parse"],
        default=default,
        choices=allowed.choices,
        help=f"{text} ({'; '.join(notes)})",
    )


def _config(cls, args, **overrides):
    # an option two configs share may be None for one ("the run's stored setting");
    # the other then takes its own default
    defaults = {f.name: f.default for f in fields(cls)}
    kwargs = {
        k: v
        for k, v in vars(args).items()
        if k in defaults and not (v is None and defaults[k] is not None)
    }
    kwargs.update(overrides)
    return cls(**kwargs)


def _resolved(path: str | None) -> str | None:
    # stored absolute, so a run evaluated from another folder finds the same data
    return None if path is None else str(Path(path).expanduser().resolve())


def cmd_train(args) -> int:
    from nengo_mif.networks.config import TrainConfig
    from nengo_mif.networks.train import train

    config = _config(TrainConfig, args, data_dir=_resolved(args.data_dir))
    train(config, args.run_dir, resume=args.resume, loihi=_loihi_target(config))
    print(f"trained weights in {args.run_dir}")
    return 0


def _loihi_target(config):
    """The Loihi neurons Loihi-aware epochs train against (deploy loads nengo_loihi)."""
    if not config.loihi_epochs:
        return None
    from nengo_mif.deploy.training import LOIHI

    return LOIHI


def cmd_evaluate(args) -> int:
    from nengo_mif.networks.config import EvalConfig
    from nengo_mif.networks.evaluate import evaluate, summary_line
    from nengo_mif.networks.run import Run

    config = _config(EvalConfig, args)
    run = Run.open(args.run_dir)
    out = Path(
        args.out
        or Path(args.run_dir)
        / f"eval-{config.neuron or run.config.neuron}-{config.mode}-{config.engine}.json"
    )
    _check_report_path(out)
    report = evaluate(run, config)
    print(summary_line(report))
    for line in report["warnings"]:
        print(f"warning: {line}", file=sys.stderr)
    _write_report(out, report)
    return 0


def _check_report_path(out: Path) -> None:
    from nengo_mif.networks import checkpoint

    if out.is_dir():
        raise CheckpointError(f"--out {out} is a folder; give a file name")
    checkpoint.check_writable(out.parent)


def _write_report(out: Path, report: dict) -> None:
    """Write the report; if that fails late, keep it in a temporary file and say where."""
    import json
    import tempfile

    from nengo_mif.networks import checkpoint

    try:
        checkpoint.atomic_write_json(out, report)
        print(f"report: {out}")
    except OSError as e:
        fd, keep = tempfile.mkstemp(prefix="nengo-mif-report-", suffix=".json")
        with open(fd, "w") as f:
            json.dump(report, f, indent=2)
        raise CheckpointError(
            f"could not write {out} ({e.strerror}); the report is kept in {keep}"
        ) from e


def cmd_compare(args) -> int:
    from nengo_mif.networks.compare import compare, format_table
    from nengo_mif.networks.config import EvalConfig, TrainConfig

    train_config = _config(
        TrainConfig, args, neuron=args.neurons[0], data_dir=_resolved(args.data_dir)
    )
    eval_config = _config(EvalConfig, args, neuron=None, mode="spiking")
    result = compare(
        args.neurons, train_config, eval_config, args.out_dir, loihi=_loihi_target(train_config)
    )
    print()
    print(format_table(result))
    if args.few_steps:
        from nengo_mif.networks.few_steps import format_rows, through_time_rows

        rows = through_time_rows(result, args.out_dir, args.few_steps, n_test=eval_config.n_test)
        print()
        print(format_rows(rows))
        result["through_time"] = rows
        _write_report(Path(args.out_dir) / "compare.json", result)
    print(f"\nresults and figures in {args.out_dir}")
    return 0


def cmd_tune(args) -> int:
    from nengo_mif.networks.config import EvalConfig, synapse_label
    from nengo_mif.networks.tune import tune

    config = _config(EvalConfig, args, mode="spiking")
    settings = tune(
        args.run_dir,
        synapses=args.synapses,
        scales=args.scales,
        readout_steps=args.readout,
        n_val=args.n_val,
        config=config,
    )
    print(
        f"chosen on {settings['source']}: synapse {synapse_label(settings['synapse'])}, "
        f"scale {settings['scale_firing_rates']:g}, readout {settings['readout_steps']} "
        f"(validation accuracy {settings['val_accuracy']:.4f}); stored in {args.run_dir}"
    )
    return 0


def cmd_figures(args) -> int:
    from nengo_mif.figures import all_figures

    for path in all_figures(args.out_dir):
        print(path)
    return 0


def cmd_deploy(args) -> int:
    from nengo_mif._quiet import quiet_import
    from nengo_mif.deploy.config import DeployConfig

    # nengo_loihi's imports wake TensorFlow's TensorRT probe, which prints natively
    deploy_command = quiet_import("nengo_mif.deploy.run").deploy_command
    return deploy_command(args.run_dir, _config(DeployConfig, args), args.out)


def cmd_export(args) -> int:
    from nengo_mif._quiet import quiet_import
    from nengo_mif.deploy.config import DeployConfig

    quiet_import("nengo_mif.deploy.run")  # export reads the Loihi mapping from it
    export = quiet_import("nengo_mif.deploy.nir_graph").export

    summary = export(args.run_dir, args.out, _config(DeployConfig, args), target=args.graph_target)
    mapping = summary["mapping"]
    print(
        f"wrote {summary['path']}: {len(summary['nodes'])} NIR nodes, {summary['neuron']} "
        f"neurons ({summary['target']} graph)"
    )
    if mapping:
        print(
            f"{mapping['source']} exported as its fitted LIF (rms fit error "
            f"{100 * mapping['rms_error']:.2f}%, in the neuron nodes' metadata)"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command, its options generated from the config classes.

    Returns
    -------
    parser : argparse.ArgumentParser
    """
    from nengo_mif.defaults import default
    from nengo_mif.deploy.config import DeployConfig
    from nengo_mif.networks.config import TUNE_SYNAPSES, EvalConfig, TrainConfig, neuron_names
    from nengo_mif.registry import trained_types

    parser = argparse.ArgumentParser(prog="nengo-mif", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    for name, help_text, defaults in [
        (
            "demo",
            "train and compare ReLU/LIF/MIF/MIF2 on the embedded MNIST subset "
            "(a few minutes), spiking evaluation",
            dict(epochs=3, n_test=1000, few_steps=4),
        ),
        ("compare", "train and evaluate several neuron types; one table, plots and JSON", {}),
    ]:
        p = sub.add_parser(name, help=help_text)
        p.add_argument(
            "--neurons",
            nargs="+",
            default=trained_types(),
            choices=neuron_names(),
            help=f"neuron types (default: {' '.join(trained_types())})",
        )
        p.add_argument("--out-dir", default=f"results/{name}")
        few = defaults.pop("few_steps", 0)
        p.add_argument(
            "--few-steps",
            type=int,
            default=few,
            metavar="T",
            help="then fine-tune a copy of each type by BPTT at T steps (1 epoch, 500 "
            f"images, no synapses) and test both at T (0: off; default: {few})",
        )
        # evaluation's options first: --synapse etc. default to each run's stored settings
        _add_fields(p, (EvalConfig, TrainConfig), skip=("neuron", "mode"), defaults=defaults)
        p.set_defaults(func=cmd_compare)

    p = sub.add_parser(
        "train", help="train a network (rate-based, spike-aware, Loihi-aware), with checkpoints"
    )
    p.add_argument("--run-dir", required=True)
    p.add_argument("--resume", action="store_true", help="continue an interrupted run")
    _add_fields(p, (TrainConfig,))
    p.set_defaults(func=cmd_train)

    _report_command(
        sub, "evaluate", "evaluate a trained run spiking (or rate)", EvalConfig, cmd_evaluate
    )

    p = sub.add_parser(
        "tune",
        help="choose synapse, firing-rate scale and readout on the validation split; "
        "store them in the run (evaluate, deploy and export use them)",
    )
    p.add_argument("--run-dir", required=True)
    p.add_argument(
        "--synapses",
        type=float,
        nargs="+",
        help=f"seconds (default: {' '.join(map(str, TUNE_SYNAPSES))})",
    )
    p.add_argument("--scales", type=float, nargs="+", help="default: per type")
    p.add_argument(
        "--readout",
        type=int,
        nargs="+",
        default=[default.readout_steps],
        help=f"readout windows K (default: {default.readout_steps})",
    )
    p.add_argument("--n-val", type=int, help="validation images (default: all held out)")
    _add_fields(
        p,
        (EvalConfig,),
        skip=("synapse", "scale_firing_rates", "readout_steps", "n_test", "mode", "neuron"),
    )
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser("figures", help="single-neuron figures: sine responses, rate curves")
    p.add_argument("--out-dir", default="results/figures")
    p.set_defaults(func=cmd_figures)

    _report_command(
        sub, "deploy", "run a trained network on Loihi (or its emulator)", DeployConfig, cmd_deploy
    )

    p = sub.add_parser("export", help="write a trained network as a NIR graph (.nir)")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("out", metavar="OUT.nir")
    _add_fields(p, (DeployConfig,), skip=("n_test", "n_steps", "target", "block_shape"))
    p.add_argument(
        "--target",
        dest="graph_target",
        choices=("portable", "nengo"),
        default="portable",
        help="portable: per-step CubaLIF layers snnTorch and Norse run unmodified (default); "
        "nengo: continuous-time NIR with LI synapses, read back exactly by to_nengo",
    )
    p.set_defaults(func=cmd_export)
    return parser


def _report_command(sub, name: str, help_text: str, config_class, func) -> None:
    """A command that reads a run, takes a config's options and writes a report."""
    p = sub.add_parser(name, help=help_text)
    p.add_argument("--run-dir", required=True)
    p.add_argument("--out", help="report JSON (default: in the run dir)")
    _add_fields(p, (config_class,))
    p.set_defaults(func=func)


def main(argv: list[str] | None = None) -> int:
    """Run the command in ``argv`` (default: ``sys.argv[1:]``).

    Returns
    -------
    code : int
        0 on success, 2 for an error that is the user's to fix (`USER_ERRORS`, reported
        in one line), 130 when interrupted.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    warnings.filterwarnings("ignore", message="No GPU support detected")
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"nengo-mif {args.command}: interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as e:
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"nengo-mif {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
