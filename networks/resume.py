"""What a resumed run may change, and the checks that it continues the run on disk."""

from __future__ import annotations

import json
from pathlib import Path

from nengo_mif.networks.config import THROUGH_TIME

from nengo_mif.exceptions import ConfigError

#: settings a resumed run may change: epoch counts and the training subset
RESUMABLE = ("epochs", "spike_aware_epochs", "bptt_epochs", "loihi_epochs", "max_train")
#: settings only training through time reads: free until its first epoch
SPIKE_AWARE = (
    "n_steps",
    "synapse",
    "train_synapses",
    "scale_firing_rates",
    "readout_steps",
    "spike_reg",
    "train_readouts",
    "encoding",
    "spike_aware_learning_rate",
    "surrogate",
    "surrogate_width",
    "attach_reset",
    "train_constants",
)


def _differences(state: dict, wanted: dict) -> list[str]:
    saved = state["config"]
    wanted = json.loads(json.dumps(wanted))  # as saved: tuples are lists
    free = RESUMABLE
    if not any(h.get("phase") in THROUGH_TIME for h in state["history"]):
        free += SPIKE_AWARE
    return [
        f"{k}: run has {saved.get(k)!r}, asked for {wanted[k]!r}"
        for k in wanted
        if k not in free and saved.get(k, wanted[k]) != wanted[k]
    ]


def _phase_summary(phases: list[str]) -> str:
    counts = {p: phases.count(p) for p in dict.fromkeys(phases)}
    return ", then ".join(f"{n} {p} epochs" for p, n in counts.items()) or "no epochs"


def check_continues(run_dir: Path, state: dict, wanted_phases: list[str], wanted: dict) -> None:
    """Raise `ConfigError` unless settings ``wanted`` continue the run in ``state``."""
    done = [h.get("phase", "rate") for h in state["history"]]
    if wanted_phases[: len(done)] != done:
        raise ConfigError(
            f"{run_dir} holds {_phase_summary(done)}; the settings ask for "
            f"{_phase_summary(wanted_phases)}, which does not continue it (phases run in "
            "the order rate, spike-aware, BPTT, Loihi; ask for at least the epochs done of "
            "each, and none of an earlier phase after a later one) - or train anew"
        )
    diff = _differences(state, wanted)
    if diff:
        raise ConfigError(
            f"{run_dir} was trained with other settings ("
            + "; ".join(diff)
            + "); resume with the same settings or choose another --run-dir"
        )
