"""Warnings for evaluation results that cannot mean what they seem to.

A spiking evaluation always returns an accuracy; these checks say when it reads
nothing about the trained network: an output that cannot settle within the
presentation, layers that are silent or saturated, chance accuracy with settings
far from the run's, or settings chosen by `tune` for earlier weights.
"""

from __future__ import annotations

import numpy as np
from nengo_mif.networks.checkpoint import chosen_on_validation

#: a layer firing at this fraction of its type's highest rate is saturated
SATURATED = 0.9
#: a setting this many times larger or smaller than the run's stored one is "far"
FAR = 3.0


def peak_rate(kind) -> float:
    """The highest rate (Hz) on a spiking type's rate curve (memristive types latch up
    beyond their peak, so it is found, not taken at the largest input).

    Returns
    -------
    rate : float
    """
    J = np.concatenate([np.linspace(0, 10, 201)[1:], np.logspace(1, 6, 200)])
    return float(np.max(kind.rates(J, np.ones(1), np.zeros(1))))


def result_warnings(report: dict, state: dict, kind, n_classes: int) -> list[str]:
    """What a report cannot mean, one line each (empty when nothing is amiss).

    Parameters
    ----------
    report : dict
        `evaluate`'s report.
    state : dict
        The run's state (its stored settings and epochs).
    kind : nengo.neurons.NeuronType
        The neuron type that ran.
    n_classes : int
        Classes of the data set (for chance).

    Returns
    -------
    warnings : list of str
    """
    found = []
    duration = report["n_steps"] * report["dt"]
    taus = report["synapse"]
    taus = list(taus.values()) if isinstance(taus, dict) else [taus]
    slow = max((t for t in taus if t), default=0.0)
    if report["mode"] == "spiking" and slow > duration:
        found.append(
            f"the output cannot settle: a {slow * 1e3:g} ms synapse is longer than the "
            f"{duration * 1e3:g} ms presentation; lower --synapse or raise --n-steps"
        )
    if report["mode"] == "spiking" and kind.spiking:
        peak = peak_rate(kind)
        for name, layer in report["layers"].items():
            rate = layer.get("mean_rate_hz")
            if rate is None:
                continue
            if rate == 0:
                found.append(f"layer {name!r} never spiked; raise --scale-firing-rates")
            elif rate >= SATURATED * peak:
                found.append(
                    f"layer {name!r} fires at {rate:.0f} Hz, {100 * rate / peak:.0f}% of "
                    f"{type(kind).__name__}'s highest rate: saturated; lower "
                    "--scale-firing-rates"
                )
    stored = state.get("settings", {})
    if report["accuracy"] <= 1.5 / n_classes:
        far = [
            f"{name} {report[name]:g} (run: {stored[name]:g})"
            for name in ("scale_firing_rates", "n_steps")
            if stored.get(name)
            and report.get(name)
            and max(report[name] / stored[name], stored[name] / report[name]) >= FAR
        ]
        found.append(
            f"accuracy {100 * report['accuracy']:.1f}% is at chance"
            + (f", with settings far from the run's: {', '.join(far)}" if far else "")
        )
    tuned_at = stored.get("epochs_done")
    if chosen_on_validation(state) and tuned_at is not None:
        if tuned_at != state.get("epochs_done"):
            found.append(
                f"the stored settings were chosen by tune after epoch {tuned_at}; the "
                f"weights have {state.get('epochs_done')} epochs now: run tune again"
            )
    return found
