"""Build the nengo-loihi simulator, shrinking a layer's blocks until every block fits a core.

`placement.place` chooses block shapes from compartment counts alone, but a core's
input and output axons and its synapse memory depend on the connections into and out
of the block, which only nengo-loihi's build works out. So `build_fitting` builds, and
when nengo-loihi's core check rejects a block it reads the failing block from the
built model's own numbers (`overflowing_layer`), halves that layer's blocks and
builds again.
"""

from __future__ import annotations

import logging
import warnings

import nengo_loihi
import numpy as np
from nengo.exceptions import BuildError
from nengo_loihi.block import LoihiBlock
from nengo_loihi.builder import Model
from nengo_mif.deploy.config import DeployConfig
from nengo_mif.deploy.placement import place

from nengo_mif.dl.conversion import neuron_layers
from nengo_mif.exceptions import DeployError

log = logging.getLogger(__name__)


def fits_core(block: LoihiBlock) -> bool:
    """Whether ``block`` is within every limit of one Loihi core.

    `LoihiBlock.utilization` counts compartments, input and output axons and synapse
    bits exactly as nengo-loihi's core check (``builder.validate.validate_block``)
    does, each next to its limit.

    Returns
    -------
    fits : bool
    """
    return all(used <= most for used, most in block.utilization().values())


def layer_blocks(model: Model, conv, placement: dict) -> dict[str, list[LoihiBlock]]:
    """The blocks of every on-chip layer in a model nengo-loihi has built.

    nengo-loihi builds each ensemble into one block under ``model.objs[ensemble]``
    and, when it splits that block to fit cores, puts the list of pieces in its place;
    so the layer's ensemble leads to its blocks without reading any label.

    Returns
    -------
    blocks : dict
        On-chip layer name -> its blocks (empty where the build stopped before them).
    """
    by_name = {layer.name: layer for layer in neuron_layers(conv.model)}
    blocks = {}
    for name, p in placement.items():
        if not p["on_chip"]:
            continue
        ens = conv.converter.layers[by_name[name].output].ensemble
        # .get, not [ ]: model.objs is a defaultdict, and looking must not add entries
        built = model.objs.get(ens, {}).get("out", [])
        blocks[name] = list(built) if isinstance(built, list) else [built]
    return blocks


def overflowing_layer(model: Model, conv, placement: dict) -> str | None:
    """The on-chip layer whose block failed nengo-loihi's core check, or None.

    nengo-loihi's build splits blocks, discretizes them, then checks every block
    against a core's limits in ``model.blocks`` order, raising `BuildError` at the
    first that exceeds one. Discretizing marks each block (``discretize_info``) and is
    the only other step of that stretch that raises `BuildError`; so when every block
    is marked, the error was the core check and the first block over a limit is the
    one it rejected. Any other `BuildError` (a connection nengo-loihi cannot build,
    weights it cannot discretize, no block on the chip) gives None.

    Returns
    -------
    layer : str or None
        The name of the layer holding the rejected block; None when the error was not
        the core check or the block belongs to no on-chip layer.
    """
    if any(block.discretize_info is None for block in model.blocks):
        return None  # the build stopped before the core check
    rejected = next((block for block in model.blocks if not fits_core(block)), None)
    if rejected is None:
        return None
    return next(
        (
            name
            for name, blocks in layer_blocks(model, conv, placement).items()
            if any(block is rejected for block in blocks)
        ),
        None,
    )


def build_fitting(
    conv, placement: dict, config: DeployConfig, attempts: int = 8
) -> tuple[nengo_loihi.Simulator, dict]:
    """Build ``conv.net`` for Loihi, shrinking a layer's blocks while one overflows a core.

    Blocks the user chose (``--block-shape``) are never changed: an overflow then is a
    `DeployError` asking for smaller ones, as is any other build error.

    Returns
    -------
    sim, placement : nengo_loihi.Simulator, dict
        The built simulator (not yet entered) and the placement it was built with.
    """
    blocks = {name: p["block_shape"] for name, p in placement.items() if p["on_chip"]}
    for _ in range(attempts):
        # our own model, made as nengo-loihi makes it, so that after a failed build
        # its blocks can be inspected
        model = Model(dt=float(config.dt), label=f"{conv.net}, dt={config.dt:f}")
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", category=UserWarning, module="nengo_loihi")
                sim = nengo_loihi.Simulator(
                    conv.net,
                    dt=config.dt,
                    model=model,
                    target=config.target,
                    progress_bar=False,
                )
            return sim, placement
        except BuildError as e:
            layer = overflowing_layer(model, conv, placement)
            if layer is None or config.block_shape:
                raise DeployError(f"{e}; choose a smaller --block-shape") from e
            log.info("%s; shrinking %s blocks", e, layer)
            blocks[layer] = smaller_block(blocks[layer])
            placement = place(conv, block_shapes=blocks)
    raise DeployError("could not fit the network's layers onto Loihi cores")


def smaller_block(block: tuple[int, ...]) -> tuple[int, ...]:
    """``block`` with its channels halved, or its largest side once one channel is left.

    Channels go first because a convolution's per-channel kernels set the synapse
    memory of a block.

    Returns
    -------
    block : tuple of int
    """
    block = list(block)
    i = len(block) - 1 if block[-1] > 1 else int(np.argmax(block))
    block[i] = max(1, block[i] // 2)
    return tuple(block)
