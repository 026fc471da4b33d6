"""What a deployment reports: accuracies, resources per layer, and the report as text."""

from __future__ import annotations

import math

import nengo_loihi
import numpy as np
from nengo_mif.deploy.build import layer_blocks
from nengo_mif.deploy.placement import CORES_PER_CHIP


def resource_table(sim: nengo_loihi.Simulator, conv, placement: dict) -> dict:
    """Blocks, compartments and memory per on-chip layer, from the built model.

    Returns
    -------
    resources : dict
        Per layer blocks, compartments, axons and synapse bits; cores and chips.
    """
    per_layer = {}
    for name, blocks in layer_blocks(sim.model, conv, placement).items():
        row = dict(
            blocks=0,
            compartments=0,
            in_axons=0,
            out_axons=0,
            synapse_bits=0,
            max_synapse_fraction=0.0,
        )
        for block in blocks:
            util = block.utilization()
            row["blocks"] += 1
            row["compartments"] += util["compartments"][0]
            row["in_axons"] += util["in-axons"][0]
            row["out_axons"] += util["out-axons"][0]
            row["synapse_bits"] += util["synapses"][0]
            row["max_synapse_fraction"] = max(
                row["max_synapse_fraction"], util["synapses"][0] / util["synapses"][1]
            )
        per_layer[name] = row
    cores = sum(r["blocks"] for r in per_layer.values())
    return dict(layers=per_layer, cores=cores, chips=math.ceil(cores / CORES_PER_CHIP))


def accuracies(loihi_pred: np.ndarray, dl_pred: np.ndarray, y: np.ndarray) -> dict:
    """Accuracy on the chip and in NengoDL, and how often the two agree.

    NengoDL's predictions may cover fewer images than the chip's; each comparison uses
    the images both have.

    Returns
    -------
    accuracies : dict
        ``loihi_accuracy``, ``nengo_dl_accuracy`` and ``agreement``, as floats.
    """
    m = len(dl_pred)
    return dict(
        loihi_accuracy=float((loihi_pred == y).mean()),
        nengo_dl_accuracy=float((dl_pred == y[:m]).mean()),
        agreement=float((dl_pred == loihi_pred[:m]).mean()),
    )


def format_report(report: dict) -> str:
    """A deployment report as a few lines of text.

    Returns
    -------
    text : str
    """
    s = report["settings"]
    lines = [
        f"{report['target']} accuracy {report['loihi_accuracy']:.4f} vs NengoDL "
        f"{report['nengo_dl_accuracy']:.4f} (same network and settings; agreement "
        f"{report['agreement']:.3f}) on {report['n_test']} images "
        f"({report['test_source']}), {s['n_steps']} steps, synapse {s['synapse']}"
    ]
    if report["mapping"]:
        m = report["mapping"]
        lines.append(
            f"{m['source']} -> Loihi LIF: tau_rc {m['tau_rc'] * 1e3:.2f} ms, tau_ref "
            f"{m['tau_ref'] * 1e3:.0f} ms, gain {m['gain']:.3g}, fit error "
            f"{100 * m['rms_error']:.2f}% over u in [0, {m['u_max']:.3g}]"
        )
    lines.append(
        f"{'layer':<10}{'chip':>5}{'neurons':>9}{'block':>14}{'blocks':>7}"
        f"{'in-axons':>10}{'synapse bits':>14}{'max syn %':>10}"
    )
    res = report["resources"]["layers"]
    for name, p in report["placement"].items():
        r = res.get(name, {})
        lines.append(
            f"{name:<10}{'on' if p['on_chip'] else 'off':>5}{p['neurons']:>9}"
            f"{str(p.get('block_shape', '-')):>14}{r.get('blocks', 0):>7}"
            f"{r.get('in_axons', 0):>10}{r.get('synapse_bits', 0):>14}"
            f"{100 * r.get('max_synapse_fraction', 0):>10.1f}"
        )
    lines.append(
        f"cores {report['resources']['cores']}, chips {report['resources']['chips']}; "
        f"{report['seconds_per_image']:.2f} s per image on the {report['target']}"
    )
    return "\n".join(lines)
