"""What training through time buys at a few steps: each compared type, fine-tuned by BPTT.

For every row of a comparison (`networks.compare`), a copy of the type's run is
trained for a few more epochs with backpropagation through time at ``n_steps``
steps, without synapses and with the output read as its mean over the steps, and
tested at ``n_steps``: the rate-trained net with its own stored settings and as the
BPTT net is shown (no synapses, mean output), and the BPTT net as it trained. The copy lives next to the run
(``<type>-bptt-<T>``), so an interrupted demo resumes.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from nengo_mif.networks import checkpoint
from nengo_mif.networks.config import EvalConfig
from nengo_mif.networks.evaluate import evaluate
from nengo_mif.networks.run import Run
from nengo_mif.networks.train import train


def through_time_rows(
    result: dict,
    out_dir: str | Path,
    n_steps: int,
    epochs: int = 1,
    max_train: int | None = 500,
    n_test: int | None = None,
    verbose: bool = True,
) -> list[dict]:
    """Fine-tune each compared type with BPTT at ``n_steps``; rows before and after.

    Returns
    -------
    rows : list of dict
        Per type: accuracy at ``n_steps`` rate-trained and after BPTT, the BPTT
        epochs' seconds and peak memory.
    """
    out_dir = Path(out_dir)
    rows = []
    for row in result["rows"]:
        neuron = row["neuron"]
        source, copy = out_dir / neuron, out_dir / f"{neuron}-bptt-{n_steps}"
        if not (copy / checkpoint.STATE).exists():
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(source, copy)
        # counted from the compared run: a resumed copy's stored config has them already
        config = Run.open(source).config
        config = replace(
            config,
            bptt_epochs=config.bptt_epochs + epochs,
            n_steps=n_steps,
            synapse=None,
            readout_steps=n_steps,
            max_train=max_train,
        )
        if Run.open(copy).state["epochs_done"] < len(config.phases()):
            if verbose:
                print(f"== BPTT at {n_steps} steps: {neuron} in {copy}", flush=True)
            train(config, copy, resume=True, verbose=verbose)
        at_steps = EvalConfig(n_steps=n_steps, n_test=n_test)
        as_bptt = replace(at_steps, synapse=0, readout_steps=n_steps)
        before = evaluate(source, at_steps, progress=False)
        # the same net shown as BPTT shows it: what the training, not the settings, buys
        plain = evaluate(source, as_bptt, progress=False)
        after = evaluate(copy, as_bptt, progress=False)
        history = [h for h in Run.open(copy).state["history"] if h["phase"] == "bptt"]
        rows.append(
            dict(
                neuron=neuron,
                spiking_neuron=after["neuron"],
                n_steps=n_steps,
                rate_trained=before["accuracy"],
                rate_trained_no_synapses=plain["accuracy"],
                bptt=after["accuracy"],
                bptt_seconds=sum(h["seconds"] for h in history),
                peak_memory_mb=max(h.get("peak_memory_mb", 0) for h in history),
                n_test=after["n_test"],
            )
        )
    return rows


def format_rows(rows: list[dict]) -> str:
    """The rows as a fixed-width text table.

    Returns
    -------
    table : str
    """
    lines = [
        f"at {rows[0]['n_steps']} steps ({rows[0]['n_test']} test images): rate-trained "
        "with its stored settings, rate-trained shown as BPTT shows it (no synapses, "
        "mean output), and fine-tuned by BPTT",
        f"{'neuron':<13}{'rate (settings)':>16}{'rate (as BPTT)':>15}{'BPTT':>8}"
        f"{'BPTT s':>8}{'peak MB':>9}",
    ]
    lines += [
        f"{r['spiking_neuron']:<13}{r['rate_trained']:>16.4f}"
        f"{r['rate_trained_no_synapses']:>15.4f}{r['bptt']:>8.4f}"
        f"{r['bptt_seconds']:>8.1f}{r['peak_memory_mb']:>9.0f}"
        for r in rows
    ]
    return "\n".join(lines)
