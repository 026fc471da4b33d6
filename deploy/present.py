"""Presenting test images to the deployable network and reading its predictions.

NengoDL runs the network image by image, each from a fresh state (`predict_dl`); the
chip cannot reset, so it is shown the images one after another, each followed by
blank steps (`present_with_blanks`, `run_images`), and read on the image's presented
steps only (`chip_predictions`).
"""

from __future__ import annotations

from collections.abc import Callable

import nengo_loihi
import numpy as np
from nengo_mif.deploy.config import DeployConfig
from nengo_mif.networks.evaluate import readout

from nengo_mif._quiet import progress_bar
from nengo_mif.dl.conversion import predict_batches


def present_with_blanks(
    images: np.ndarray, n_steps: int, blank_steps: int, dt: float
) -> Callable[[float], np.ndarray]:
    """A node output showing each image for ``n_steps`` steps, then zeros for ``blank_steps``.

    Loihi cannot reset its neurons and synapses between images, so without a blank the
    next image starts from the state the last one left (NengoDL starts each image
    afresh): with a 10 ms synapse that dropped a LIF net from 96% to 32% on the
    emulator, and 40 blank steps brought it back to 94% (100 MNIST test images).

    Returns
    -------
    output : callable
        ``t -> input`` (the step index from ``t`` as `nengo.processes.PresentInput`).
    """
    period = n_steps + blank_steps
    zeros = np.zeros_like(images[0])

    def present(t):
        i, step = divmod(int(round(t / dt)) - 1, period)  # nengo's t is (k + 1) dt
        return images[i % len(images)] if step < n_steps else zeros

    return present


def predict_dl(
    conv, x: np.ndarray, config: DeployConfig, progress: bool
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """NengoDL's predictions and per-neuron rates of the deployable network.

    Returns
    -------
    predictions : ndarray
        The predicted class of every image.
    rates : dict
        Layer name -> rates in Hz, one row per image.
    """
    by_name = {layer.name: layer for layer in conv.model.layers}
    amplitude = {
        name: conv.converter.layers[by_name[name].output].ensemble.neuron_type.amplitude
        for name in conv.layer_probes
    }
    preds, rates = [], {name: [] for name in conv.layer_probes}
    batch = max(b for b in range(1, 51) if len(x) % b == 0)
    for out in predict_batches(conv, x, config.n_steps, config.dt, batch, progress=progress):
        preds.append(readout(out[conv.output], config.readout_steps)[:, -1].argmax(axis=-1))
        for name, probe in conv.layer_probes.items():
            rates[name].append(out[probe].mean(axis=1) / amplitude[name])
    return np.concatenate(preds), {k: np.concatenate(v) for k, v in rates.items()}


def too_fast_for_loihi(rates: dict[str, np.ndarray], placement: dict, dt: float) -> list[str]:
    """A message for every on-chip layer with neurons at the chip's ceiling of 1/dt.

    Loihi emits at most one spike per step, so such neurons would be clipped there
    while NengoDL lets them fire faster.

    Returns
    -------
    messages : list of str
    """
    messages = []
    for name, r in rates.items():
        too_fast = int((r.max(axis=0) >= 1 / dt).sum())
        if placement[name]["on_chip"] and too_fast:
            messages.append(
                f"layer {name!r}: {too_fast} neurons reach {1 / dt:g} Hz, the most "
                "Loihi can emit (one spike per step); lower --scale-firing-rates"
            )
    return messages


def run_images(
    sim: nengo_loihi.Simulator, n_images: int, config: DeployConfig, progress: bool
) -> None:
    """Step ``sim`` through ``n_images`` presentations, each with its blank steps."""
    period = config.n_steps + config.blank_steps
    for _ in progress_bar(range(n_images), f"loihi {config.target}", progress):
        sim.run_steps(period)


def chip_predictions(output: np.ndarray, n_images: int, config: DeployConfig) -> np.ndarray:
    """The chip's predicted classes from its probed ``output`` over all presentations.

    Read as NengoDL is: on the image's presented steps, not its blank ones.

    Returns
    -------
    predictions : ndarray
    """
    out = np.asarray(output).reshape(n_images, config.n_steps + config.blank_steps, -1)
    return readout(out[:, : config.n_steps], config.readout_steps)[:, -1].argmax(axis=-1)
