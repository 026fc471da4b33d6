"""Run a NIR graph in snnTorch or Norse, as their users would; prints a JSON line.

Runs under a Python that has torch, snntorch, norse and nir (``make peers`` builds
``.venv-peers``; TensorFlow 2.12 and torch cannot share one environment): TF pins
typing-extensions < 4.6 and torch needs >= 4.10.

    python benchmarks/nir_peers.py GRAPH.nir IMAGES.npz --steps 30 --framework snntorch

``IMAGES.npz`` holds ``x`` (N, C, H, W) float32 images; the input is constant over
the steps, the prediction the argmax of the output summed over the steps.
"""

import argparse
import json
import time

import nir
import numpy as np
import torch


def load(graph, framework: str):
    if framework == "snntorch":
        from snntorch.import_nir import import_from_nir

        return import_from_nir(graph)
    import norse.torch

    return norse.torch.from_nir(graph, dt=graph.metadata.get("dt", 1e-4))


def run(net, x: torch.Tensor, steps: int, framework: str) -> np.ndarray:
    """The output summed over ``steps`` of constant input ``x``, from a fresh start."""
    state, total = None, 0
    if framework == "snntorch":  # its neurons hold their own state (init_hidden)
        import snntorch.utils

        snntorch.utils.reset(net)
    for _ in range(steps):
        if framework == "snntorch":
            out = net(x)
            out = out[0] if isinstance(out, tuple) else out
        else:
            out, state = net(x, state)
        total = total + out.reshape(len(x), -1)
    return total.detach().numpy()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("graph")
    parser.add_argument("images")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--framework", choices=("snntorch", "norse"), default="snntorch")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--out", help="write the summed outputs here (.npy)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    graph = nir.read(args.graph)
    x = np.load(args.images)["x"].astype("float32")
    start = time.perf_counter()
    with torch.no_grad():
        net = load(graph, args.framework)
        sums = np.concatenate(
            [
                run(net, torch.from_numpy(x[i : i + args.batch]), args.steps, args.framework)
                for i in range(0, len(x), args.batch)
            ]
        )
    if args.out:
        np.save(args.out, sums)
    print(json.dumps({"framework": args.framework, "n": len(x),
                      "seconds": time.perf_counter() - start,
                      "pred": sums.argmax(axis=1).tolist()}))  # fmt: skip


if __name__ == "__main__":
    main()
