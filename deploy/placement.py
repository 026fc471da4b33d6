"""Make a converted network Loihi-ready: constant inputs as biases, on/off-chip, blocks.

* Biases: Loihi compartments have a bias current, and nengo-loihi cannot send a
  Node's constant output through a sparse or convolutional transform to the chip, so
  every constant input (the Converter's and our bias nodes) is folded into the bias of
  the ensemble it feeds, times that ensemble's gain.
* Placement: the input layer runs off-chip (it turns pixels into spikes), the output
  layer is a Node (off-chip), every hidden layer is on-chip.
* Blocks: each on-chip layer is split into blocks that fit a core (1024 compartments,
  4096 input and output axons, 1,048,576 synapse bits), chosen automatically.
"""

from __future__ import annotations

import math

import nengo
import nengo_loihi
import numpy as np
from nengo.utils.numpy import is_array_like
from nengo_loihi.block import MAX_COMPARTMENTS
from nengo_mif.deploy.mapping import DIRECT

from nengo_mif.dl.conversion import neuron_layers
from nengo_mif.exceptions import DeployError


def _transform_matrix(conn: nengo.Connection) -> np.ndarray:
    t = conn.transform
    if isinstance(t, nengo.Sparse):
        return t.init.toarray() if hasattr(t.init, "toarray") else np.asarray(t.init.todense())
    if isinstance(t, nengo.Dense):
        init = np.asarray(t.init)
        return init if init.ndim == 2 else init * np.eye(conn.size_out, conn.size_mid)
    if t is None or type(t).__name__ == "NoTransform":
        return np.eye(conn.size_out, conn.size_mid)
    raise DeployError(f"{conn}: cannot fold a constant input through {type(t).__name__}")


def _sliced(conn: nengo.Connection, value: np.ndarray) -> np.ndarray:
    return np.asarray(value)[conn.pre_slice]


def _gain(ens: nengo.Ensemble) -> np.ndarray:
    gain = ens.gain
    if isinstance(gain, nengo.dists.Choice) and len(gain.options) == 1:
        return np.full(ens.n_neurons, float(np.asarray(gain.options).ravel()[0]))
    if is_array_like(gain):
        return np.asarray(gain, dtype=float)
    raise DeployError(f"{ens}: gains drawn from {gain} cannot be folded; fix them first")


def fold_constant_inputs(net: nengo.Network, inputs=()) -> int:
    """Move constant Node inputs into ensemble biases; returns how many were folded.

    ``inputs`` are the network's data inputs: constant now, but fed data later.

    Returns
    -------
    n_folded : int
    """
    conns = list(net.all_connections)
    value: dict[nengo.Node, np.ndarray] = {
        node: np.asarray(node.output, dtype=float)
        for node in net.all_nodes
        if node.size_in == 0 and is_array_like(node.output) and node not in inputs
    }
    changed = True
    while changed:  # passthrough nodes fed only by constants are constant too
        changed = False
        for node in net.all_nodes:
            if node in value or node.output is not None:
                continue
            incoming = [c for c in conns if c.post_obj is node]
            if incoming and all(c.pre_obj in value for c in incoming):
                total = np.zeros(node.size_in)
                for c in incoming:
                    total[c.post_slice] += _transform_matrix(c) @ _sliced(c, value[c.pre_obj])
                value[node] = total
                changed = True

    folded = []
    for c in conns:
        if c.pre_obj in value and isinstance(c.post_obj, nengo.ensemble.Neurons):
            ens = c.post_obj.ensemble
            bias = (
                np.array(ens.bias, dtype=float)
                if is_array_like(ens.bias)
                else np.full(ens.n_neurons, float(np.asarray(ens.bias.options).ravel()[0]))
            )
            current = np.zeros(ens.n_neurons)
            current[c.post_slice] += _transform_matrix(c) @ _sliced(c, value[c.pre_obj])
            ens.bias = bias + _gain(ens) * current
            folded.append(c)
    _remove(net, folded)
    still_used = {c.pre_obj for c in net.all_connections} | {
        c.post_obj for c in net.all_connections
    }
    _remove(net, [n for n in value if n not in still_used])
    return len(folded)


def _remove(net: nengo.Network, objs) -> None:
    objs = set(objs)
    for sub in [net, *net.all_networks]:
        for container in (sub.connections, sub.nodes):
            for obj in [o for o in container if o in objs]:
                container.remove(obj)


def block_shape_for(
    shape: tuple[int, ...], max_compartments: int = MAX_COMPARTMENTS, max_channels: int = 32
) -> tuple[int, ...]:
    """A block shape for a channels-last layer of ``shape`` that fits one core.

    Keeps up to ``max_channels`` channels per block (bounding the synapse memory of a
    convolution's per-channel kernels) and a square spatial tile filling the rest.

    Returns
    -------
    block_shape : tuple of int
    """
    if len(shape) != 3:
        return (min(int(np.prod(shape)), max_compartments),)
    rows, cols, channels = shape
    ch = min(channels, max_channels, max_compartments)
    side = max(1, int(math.isqrt(max_compartments // ch)))
    return (min(rows, side), min(cols, side), ch)


#: cores of one Loihi chip, and the most chips a deployment may ask for (a Nahuku board)
CORES_PER_CHIP = 128
MAX_CHIPS = 32


def plan_blocks(
    model,
    block_shapes: dict[str, tuple[int, ...]] | None = None,
    default_block: tuple[int, ...] | None = None,
    max_chips: int = MAX_CHIPS,
) -> dict[str, tuple[tuple[int, ...], int]]:
    """The block shape and block count of every on-chip layer, checked.

    Every block shape must have the layer's rank, fit inside the layer and a core, and
    all blocks together must fit on ``max_chips`` chips (each block takes a core).
    Needs only the Keras model, so a deployment checks this before any other work.

    Returns
    -------
    blocks : dict
        Layer name -> (block shape, number of blocks); the input layer stays off-chip.
    """
    for layer in model.layers:
        if "MaxPool" in type(layer).__name__:
            raise DeployError(
                f"layer {layer.name!r} ({type(layer).__name__}): Loihi has no max pooling; "
                "train the net with average pooling (e.g. model csnn_avg) to deploy it"
            )
    layers = neuron_layers(model)
    if not layers:
        raise DeployError("the network has no neuron layers to place on Loihi")
    plan = {}
    for layer in layers[1:]:
        shape = tuple(int(d) for d in layer.output_shape[1:])
        block = (block_shapes or {}).get(layer.name) or default_block or block_shape_for(shape)
        if len(block) != len(shape) or any(b < 1 or b > s for b, s in zip(block, shape)):
            raise DeployError(
                f"layer {layer.name!r}: block shape {block} does not fit the layer's shape "
                f"{shape}; give one side per dimension, each between 1 and the layer's"
            )
        if int(np.prod(block)) > MAX_COMPARTMENTS:
            raise DeployError(
                f"layer {layer.name!r}: block shape {block} has {int(np.prod(block))} "
                f"compartments; a Loihi core holds {MAX_COMPARTMENTS}. Use a smaller block"
            )
        plan[layer.name] = (block, int(np.prod([math.ceil(s / b) for s, b in zip(shape, block)])))
    cores = sum(n for _, n in plan.values())
    if cores > max_chips * CORES_PER_CHIP:
        worst = max(plan, key=lambda name: plan[name][1])
        raise DeployError(
            f"the blocks need {cores} cores, more than {max_chips} chips hold "
            f"({max_chips * CORES_PER_CHIP}); layer {worst!r} alone has {plan[worst][1]} "
            f"blocks of {plan[worst][0]}. Use larger blocks (or leave --block-shape out to "
            "have them chosen)"
        )
    return plan


def place(
    conv,
    block_shapes: dict[str, tuple[int, ...]] | None = None,
    default_block: tuple[int, ...] | None = None,
    max_chips: int = MAX_CHIPS,
) -> dict[str, dict]:
    """Configure ``conv.net`` for nengo-loihi; returns the placement per layer.

    Block shapes are checked by `plan_blocks`; every on-chip layer must hold a neuron
    type Loihi runs.

    Returns
    -------
    placement : dict
        Per layer: neurons, shape, on/off chip, neuron type, block shape and count.
    """
    net = conv.net
    nengo_loihi.add_params(net)
    plan = plan_blocks(conv.model, block_shapes, default_block, max_chips)
    placement = {}
    for layer in neuron_layers(conv.model):
        ens = conv.converter.layers[layer.output].ensemble
        kind = ens.neuron_type
        on_chip = layer.name in plan
        if on_chip and not isinstance(kind, DIRECT):
            raise DeployError(
                f"layer {layer.name!r}: neuron type {type(kind).__name__} cannot run on "
                "Loihi; map it to Loihi's LIF (nengo-mif deploy does this for MIF and MIF2) "
                "or keep the layer off-chip (on_chip=False)"
            )
        net.config[ens].on_chip = on_chip
        entry = dict(
            neurons=ens.n_neurons,
            shape=tuple(int(d) for d in layer.output_shape[1:]),
            on_chip=on_chip,
            neuron_type=type(kind).__name__,
        )
        if on_chip:
            block, entry["blocks"] = plan[layer.name]
            net.config[ens].block_shape = nengo_loihi.BlockShape(block, entry["shape"])
            entry["block_shape"] = block
        placement[layer.name] = entry
    return placement
