"""After rate training: does the net need the smoothing it trained with?"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

from nengo_mif.networks import checkpoint
from nengo_mif.networks.config import TrainConfig
from nengo_mif.networks.run import Run, validation_data

from nengo_mif.keras.convert import rate_model
from nengo_mif.registry import neuron_type

log = logging.getLogger(__name__)


#: how much worse the exact rate curve may do than the smoothed one before a warning
SMOOTHING_GAP = 0.02


def check_smoothing(run_dir: Path, config: TrainConfig, state: dict, n: int = 1000) -> None:
    """Warn when the rate net needs the smoothing it trained with.

    Smoothing rounds the rate curve's corner at threshold so that it has a gradient;
    a net can learn to keep its neurons in that corner, where the exact curve (what
    the spiking neurons do) differs. Compared on up to ``n`` validation images and
    stored in the run's state as ``smoothing_check``.
    """
    done = state.get("smoothing_check", {}).get("epoch") == state["epochs_done"]
    if done or not (config.smoothing and config.validation):
        return
    val = validation_data(config)
    x, y = val.x_test[:n], val.y_test[:n]
    model = Run.open(run_dir).keras_model(val)
    kind = neuron_type(config.neuron)
    acc = {
        name: float(
            (
                rate_model(model, kind, smoothing=smoothing)
                .predict(x, verbose=0, batch_size=250)
                .argmax(axis=-1)
                == y
            ).mean()
        )
        for name, smoothing in (("smoothed", config.smoothing), ("exact", None))
    }
    state["smoothing_check"] = dict(epoch=state["epochs_done"], n_images=len(x), **acc)
    checkpoint.atomic_write_json(run_dir / checkpoint.STATE, state)
    if acc["exact"] < acc["smoothed"] - SMOOTHING_GAP:
        msg = (
            f"{run_dir}: on {len(x)} validation images the rate net scores "
            f"{acc['smoothed']:.1%} with the smoothed rate curve it trained on but "
            f"{acc['exact']:.1%} with the exact curve the spiking neurons follow; lower "
            f"--smoothing (now {config.smoothing:g}) or fine-tune with --spike-aware-epochs"
        )
        log.warning(msg)
        warnings.warn(msg, stacklevel=2)
