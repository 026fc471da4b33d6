"""Cost of one neuron step per type: evaluation's step and BPTT's vector-Jacobian product.

The layer-level view of issue 29's "MIF2 at LIF's cost": each type's fused step
(`SpikingCell.steps["inference"]`) and its BPTT backward (`SpikingCell.vjps["bptt"]`,
which recomputes the step) on one layer of 50 x 28 x 28 x 32 neurons (the reference
net's first layer at batch 50), inputs drawn uniformly from [0, 2) (the scaled
current, every neuron above and below threshold), best of seven calls after a
compiling one. Also, for MIF2's event-exact step, the same step when only the spike
count is returned: the gap is XLA recomputing the shared event search for each of
the step's five outputs (its CPU backend has no multi-output fusion).

    python benchmarks/bench_step.py [--out benchmarks/results/step/bench_step.json]
"""

from __future__ import annotations

import argparse
import math
import platform
import time

from bench_engine import write_result

SHAPE = (50, 28, 28, 32)
TYPES = ("spiking-relu", "lif", "mif", "mif2")


def best_of(fn, n: int = 7) -> float:
    """The fastest of ``n`` calls (seconds), after one that compiles."""
    fn()
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def measure_type(name: str, x) -> dict:
    """Milliseconds per step and per BPTT backward step of one type."""
    from nengo_mif.keras.activations import SpikingCell
    from nengo_mif.keras.maths import fused, tf
    from nengo_mif.keras.surrogates import ThroughTime
    from nengo_mif.registry import neuron_type

    cell = SpikingCell(neuron_type(name), SHAPE[1:], through_time=ThroughTime("bptt"))
    state, params = cell.initial_states(SHAPE[0]), list(cell.parameters())
    step, vjp = cell.steps["inference"], cell.vjps["bptt"]
    out = step(x, *params, *state)
    ones = [tf.ones_like(s) for s in state]
    row = dict(
        step_ms=1e3 * best_of(lambda: [t.numpy() for t in step(x, *params, *state)]),
        bptt_backward_ms=1e3
        * best_of(lambda: [t.numpy() for t in vjp(x, params, state, out[0], ones)[2]]),
    )
    if name == "mif2":
        count_only = fused(lambda x, *a: step.python_function(x, *a)[0])
        row["step_count_only_ms"] = 1e3 * best_of(lambda: count_only(x, *params, *state).numpy())
    return row


def measure() -> dict:
    """`measure_type` for every type, and each against LIF."""
    from nengo_mif.keras.maths import tf

    x = tf.random.stateless_uniform(SHAPE, (0, 1), 0.0, 2.0)
    rows = {name: measure_type(name, x) for name in TYPES}
    lif = rows["lif"]
    for row in rows.values():
        row["step_vs_lif"] = row["step_ms"] / lif["step_ms"]
        row["bptt_backward_vs_lif"] = row["bptt_backward_ms"] / lif["bptt_backward_ms"]
    return rows


def table(rows: dict) -> str:
    lines = [
        "| type | step (ms) | vs LIF | BPTT backward step (ms) | vs LIF |",
        "|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['step_ms']:.1f} | {r['step_vs_lif']:.2f} | "
            f"{r['bptt_backward_ms']:.1f} | {r['bptt_backward_vs_lif']:.2f} |"
        )
    lines.append(
        f"\n{math.prod(SHAPE):,} neurons ({' x '.join(map(str, SHAPE))}), float32, best of 7 calls. "
        f"MIF2 returning only its spike count: {rows['mif2']['step_count_only_ms']:.1f} ms."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/step/bench_step.json")
    args = parser.parse_args()
    rows = measure()
    result = dict(machine=platform.processor() or platform.machine(), shape=SHAPE, rows=rows)
    result["table"] = table(rows)
    write_result(args.out, result)


if __name__ == "__main__":
    main()
