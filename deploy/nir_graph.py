"""A trained network as a NIR graph (Neuromorphic Intermediate Representation), and back.

NIR (https://neuroir.org, the ``nir`` package) is read by Nengo, snnTorch, Norse,
Lava-dl, Sinabs, Rockpool and several chips. The export follows NIR's conventions:
channels first (``C, H, W``), PyTorch's kernel layout ``(out, in, kH, kW)``,
continuous-time neurons and spikes as unit events. So

* a ``Conv2D``/``Dense`` becomes ``Conv2d``/``Affine`` with the trained weights
  (transposed; a ``Dense`` after ``Flatten`` gets its rows reordered from Keras's
  ``H, W, C`` flattening to NIR's ``C, H, W``), times the amplitude of the spikes
  it receives (a nengo spike carries ``amplitude``, a NIR spike 1);
* a neuron layer becomes ``LIF`` (``tau dv/dt = v_leak - v + r I``, with
  ``r`` = the neurons' gain and the threshold current folded into the bias, as in
  `networks.conversion`) or ``IF`` for spiking ReLU; nengo's ``tau_ref`` and the
  subtractive reset of spiking ReLU are in the node's metadata (NIR has neither);
* MIF and MIF2 go out as their fitted Loihi LIF (`deploy.mapping`), with the
  circuit's parameters and the fit error in the node's metadata;
* each Lowpass synapse is an ``LI`` node (``tau dv/dt = -v + I``) after the neurons.

`to_nengo` reads such a graph back into a nengo network (the round trip is tested).
"""

from __future__ import annotations

from pathlib import Path

import nengo
import numpy as np

from nengo_mif._quiet import import_tensorflow
from nengo_mif.defaults import default
from nengo_mif.exceptions import NIRExportError

tf = import_tensorflow()

layers = tf.keras.layers


def _padding(layer) -> int | tuple[int, int]:
    if layer.padding == "valid":
        return 0
    pads = []
    for size, k, s in zip(layer.input_shape[1:3], layer.kernel_size, layer.strides):
        total = max((-(-size // s) - 1) * s + k - size, 0)
        if total % 2:
            # Keras pads the extra row at the end; NIR's Conv2d pads both sides alike
            raise NIRExportError(
                f"layer {layer.name!r}: padding='same' with stride {s} on size {size} pads "
                "unevenly, which NIR's Conv2d cannot express; use padding='valid' or an "
                "input size that divides the stride"
            )
        pads.append(total // 2)
    return tuple(pads)


def _chw(shape) -> np.ndarray:
    """A Keras (channels-last) shape without the batch axis, as NIR's channels-first."""
    shape = tuple(int(s) for s in shape)
    return np.array(shape[-1:] + shape[:-1] if len(shape) > 1 else shape)


def _weights(layer) -> tuple[np.ndarray, np.ndarray]:
    """A Conv2D's kernel in NIR's ``(out, in, kH, kW)`` layout, or a Dense's as Keras
    holds it, and the bias (zeros without one)."""
    weights = layer.get_weights()
    bias = weights[1] if len(weights) > 1 else np.zeros(layer.output_shape[-1])
    if not isinstance(layer, layers.Conv2D):
        return weights[0], bias
    if layer.dilation_rate != (1, 1) or getattr(layer, "groups", 1) != 1:
        raise NIRExportError(f"layer {layer.name!r}: dilated or grouped convolution")
    return weights[0].transpose(3, 2, 0, 1), bias


def _conv2d(weight: np.ndarray, bias: np.ndarray, input_shape, stride, padding):
    import nir

    return nir.Conv2d(
        input_shape=tuple(input_shape),
        weight=weight,
        stride=tuple(stride),
        padding=padding,
        dilation=1,
        groups=1,
        bias=bias,
    )


def _node_name(layer, node) -> str:
    """The layer's name, unless it is one of the names of the graph's boundary nodes."""
    if layer.name in ("input", "output"):
        return f"{layer.name}.{type(node).__name__.lower()}"
    return layer.name


def _neuron_node(kind, shape, gain: float, metadata: dict):
    import nir

    n = np.ones(_chw(shape))
    metadata = {**metadata, "nengo_type": type(kind).__name__}
    if isinstance(kind, nengo.LIF):
        return nir.LIF(
            tau=kind.tau_rc * n,
            r=gain * n,
            v_leak=0 * n,
            v_threshold=n,
            v_reset=0 * n,
            metadata={**metadata, "tau_ref": kind.tau_ref, "amplitude": kind.amplitude},
        )
    if isinstance(kind, nengo.SpikingRectifiedLinear):
        return nir.IF(
            r=gain * n,
            v_threshold=n,
            v_reset=0 * n,
            # the graph's own reset is NIR's (to v_reset); nengo's subtracts the threshold
            metadata={**metadata, "nengo_reset": "subtract", "amplitude": kind.amplitude},
        )
    raise NIRExportError(
        f"{type(kind).__name__} has no NIR neuron node; export LIF or spiking ReLU, or a "
        "type with a fitted Loihi LIF (MIF, MIF2)"
    )


def to_nir(
    model: tf.keras.Model,
    kind: nengo.neurons.NeuronType,
    scale: float = 1.0,
    gain_factor: float = 1.0,
    synapse: float | dict[str, float] | None = default.synapse,
    neuron_metadata: dict | None = None,
    metadata: dict | None = None,
):
    """``model`` with every ReLU as ``kind`` neurons, as a NIR graph.

    Parameters
    ----------
    model : tf.keras.Model
        A chain of layers (`networks.engine.chain`) holding the trained weights.
    kind : nengo.neurons.NeuronType
        LIF (also the fitted LIF of MIF/MIF2) or spiking ReLU.
    scale, gain_factor : float
        Firing-rate scale and an extra input gain, as in `networks.conversion.convert`.
    synapse : float, dict or None
        Lowpass time constant (s) after every neuron layer and on the output, or a
        dict of them by receiving layer (`networks.engine.synapse_for`).
    neuron_metadata, metadata : dict or None
        Added to every neuron node's metadata, and to the graph's.

    Returns
    -------
    graph : nir.NIRGraph
    """
    import nir

    from nengo_mif.engines import amplitude_of, synapse_for
    from nengo_mif.keras.convert import RESHAPE, activation_kind, chain
    from nengo_mif.registry import threshold

    gain = scale * gain_factor
    offset = threshold(kind) / gain  # z = 0 sits at the firing threshold
    amplitude = amplitude_of(kind, scale)
    nodes = {"input": nir.Input({"input": _chw(model.input_shape[1:])})}
    receivers, after = {}, "probe"  # neuron layer -> the layer its synapse feeds
    for layer in reversed(chain(model)):
        if not isinstance(layer, RESHAPE) and not isinstance(layer, layers.Activation):
            after = layer.name
        if activation_kind(layer) == "relu":
            receivers[layer.name] = after
    edges = []
    last, weight_in, flat_from = "input", 1.0, None

    def add(name, node):
        nonlocal last
        nodes[name] = node
        edges.append((last, name))
        last = name

    def neurons(name, shape):
        nonlocal weight_in
        add(f"{name}.neurons", _neuron_node(kind, shape, gain, neuron_metadata or {}))
        tau = synapse_for(synapse, receivers[name])
        if tau is not None:
            n = np.ones(_chw(shape))
            add(f"{name}.synapse", nir.LI(tau=tau * n, r=n, v_leak=0 * n))
        weight_in = amplitude

    for layer in chain(model):
        relu = activation_kind(layer) == "relu"
        if isinstance(layer, layers.Activation):
            if relu:
                neurons(layer.name, layer.output_shape[1:])
            continue
        if isinstance(layer, RESHAPE):
            if not isinstance(layer, layers.Flatten):
                raise NIRExportError(f"layer {layer.name!r}: NIR export handles Flatten only")
            flat_from = layer.input_shape[1:]
            add(layer.name, nir.Flatten(input_type={"input": _chw(flat_from)}, start_dim=0))
            continue
        kernel, bias = _weights(layer)
        bias = bias + (offset if relu else 0.0)
        if isinstance(layer, layers.Conv2D):
            node = _conv2d(
                weight_in * kernel, bias, layer.input_shape[1:3], layer.strides, _padding(layer)
            )
        elif isinstance(layer, layers.Dense):
            if flat_from is not None and len(flat_from) > 1:
                # Keras flattened (H, W, C); NIR flattens (C, H, W)
                order = np.arange(kernel.shape[0]).reshape(flat_from)
                kernel = kernel[np.moveaxis(order, -1, 0).ravel()]
            node = nir.Affine(weight=weight_in * kernel.T, bias=bias)
        else:
            raise NIRExportError(
                f"layer {layer.name!r} ({type(layer).__name__}): NIR export handles Conv2D, "
                "Dense, Flatten and ReLU layers"
            )
        add(_node_name(layer, node), node)
        flat_from = None
        if relu:
            neurons(layer.name, layer.output_shape[1:])
        else:
            weight_in = 1.0
    tau = synapse_for(synapse, "probe")
    if tau is not None:
        n = np.ones(_chw(model.output_shape[1:]))
        add("output.synapse", nir.LI(tau=tau * n, r=n, v_leak=0 * n))
    add("output", nir.Output({"output": _chw(model.output_shape[1:])}))
    return nir.NIRGraph(nodes, edges, metadata={"time": "continuous", **(metadata or {})})


#: the step the torch importers assume: snnTorch hard-codes it, Norse takes it as ``dt=``
IMPORTER_STEP = 1e-4
#: a membrane time constant long enough that ``1 - IMPORTER_STEP / tau`` is 1 in float32
NO_LEAK_TAU = 1e4
TARGETS = ("portable", "nengo")


def to_portable_nir(
    model: tf.keras.Model,
    kind: nengo.neurons.NeuronType,
    scale: float = 1.0,
    gain_factor: float = 1.0,
    synapse: float | dict[str, float] | None = default.synapse,
    dt: float = default.dt,
    neuron_metadata: dict | None = None,
    metadata: dict | None = None,
):
    """``model`` as a NIR graph that snnTorch's and Norse's importers run unmodified.

    Those importers step every node once per ``IMPORTER_STEP`` with Euler's rule and
    emit one unit per spike per step. Every neuron layer is one ``CubaLIF`` whose
    constants make their step exactly Loihi's (``kind`` is ``LoihiLIF`` or
    ``LoihiSpikingRectifiedLinear``, one step = one nengo step of ``dt``)::

        I[t] = a I[t-1] + W s[t] + b'       a = exp(-dt / tau_synapse), 0 without one
        v[t] = beta v[t-1] + I[t]           beta = exp(-dt / tau_rc), 1 for spiking ReLU
        s[t] = v[t] > 1;  v[t] = 0 where s[t]

    with ``tau_syn = STEP / (1 - a)``, ``tau_mem = STEP / (1 - beta)`` (``NO_LEAK_TAU``
    for ReLU), ``r = tau_mem / STEP`` and ``w_in = tau_syn / STEP``, so that the
    importers' input scalings are 1 and everything else sits in the weights
    (``W' = (1 - beta) gain (1 - a) (amplitude / dt) W``; ReLU: ``dt`` for
    ``1 - beta``). A Dense layer after Flatten becomes a Conv2d over the whole map
    and later Dense layers 1x1 convolutions: importers pass NIR's Flatten to torch
    unchanged, which flattens the batch too. The output is the last layer's current
    per step; its sum over the steps gives the prediction.

    What the graph cannot carry, and is approximated: the refractory period
    (dropped), the voltage floor at 0 (none), the start state (zero, where nengo-mif
    starts each image uniform in [0, 1)), the bias (it rises through the synapse
    from 0 instead of being there from the first step) and the output synapse
    (the sum over the steps replaces it).

    Returns
    -------
    graph : nir.NIRGraph
    """
    import nir

    from nengo_mif.engines import amplitude_of, synapse_for
    from nengo_mif.keras.convert import RESHAPE, activation_kind, chain
    from nengo_mif.registry import threshold

    gain = scale * gain_factor
    offset = threshold(kind) / gain
    if isinstance(kind, nengo.LIF):
        from nengo_loihi.neurons import discretize_tau_rc

        beta = float(np.exp(-dt / discretize_tau_rc(kind.tau_rc, dt)))
        drive, tau_mem = 1 - beta, IMPORTER_STEP / (1 - beta)
    elif isinstance(kind, nengo.SpikingRectifiedLinear):
        drive, tau_mem = dt, NO_LEAK_TAU
    else:
        raise NIRExportError(
            f"{type(kind).__name__} has no portable NIR node; export LIF or spiking ReLU, "
            "or a type with a fitted Loihi LIF (MIF, MIF2)"
        )
    spike = amplitude_of(kind, scale) / dt  # what one nengo spike delivers per step
    nodes = {"input": nir.Input({"input": _chw(model.input_shape[1:])})}
    edges, last = [], "input"
    shape = tuple(int(d) for d in _chw(model.input_shape[1:]))  # what arrives, channels first
    spikes_in = False
    for layer in chain(model):
        if isinstance(layer, (layers.Activation, *RESHAPE)):
            if isinstance(layer, RESHAPE) and not isinstance(layer, layers.Flatten):
                raise NIRExportError(f"layer {layer.name!r}: NIR export handles Flatten only")
            if isinstance(layer, layers.Activation) and activation_kind(layer) == "relu":
                raise NIRExportError(
                    f"layer {layer.name!r}: the portable export needs each ReLU inside its "
                    "Conv2D or Dense layer; use --target nengo"
                )
            continue  # Flatten: the next Dense reads the map as it is
        relu = activation_kind(layer) == "relu"
        # the readout has no neurons, so no synapse to pass its input through
        tau = synapse_for(synapse, layer.name) if spikes_in and relu else None
        a = float(np.exp(-dt / tau)) if tau else 0.0
        w_scale = (spike * (1 - a) if spikes_in else 1.0) * (drive * gain if relu else 1.0)
        b_scale = drive * gain * (1 - a) if relu else 1.0
        kernel, bias = _weights(layer)
        weight, bias = w_scale * kernel, b_scale * (bias + offset * relu)
        out_shape = _chw(layer.output_shape[1:])
        if isinstance(layer, layers.Conv2D):
            node = _conv2d(weight, bias, shape[1:], layer.strides, _padding(layer))
        elif isinstance(layer, layers.Dense) and len(shape) == 3:
            # a Dense over a (C, H, W) map is a convolution with the map's size
            c, h, w = shape
            weight = weight.reshape(h, w, c, -1).transpose(3, 2, 0, 1)
            node = _conv2d(weight, bias, shape[1:], (1, 1), 0)
            out_shape = np.array([weight.shape[0], 1, 1])
        elif isinstance(layer, layers.Dense):
            node = nir.Affine(weight=weight.T, bias=bias)
        else:
            raise NIRExportError(
                f"layer {layer.name!r} ({type(layer).__name__}): NIR export handles Conv2D, "
                "Dense, Flatten and ReLU layers"
            )
        name = _node_name(layer, node)
        nodes[name] = node
        edges.append((last, name))
        last = name
        shape = tuple(int(d) for d in out_shape)
        if relu:
            n = np.ones(out_shape)
            tau_syn = IMPORTER_STEP / (1 - a)
            nodes[f"{layer.name}.neurons"] = nir.CubaLIF(
                tau_syn=tau_syn * n,
                tau_mem=tau_mem * n,
                r=tau_mem / IMPORTER_STEP * n,
                w_in=tau_syn / IMPORTER_STEP * n,
                v_leak=0 * n,
                v_threshold=n,
                v_reset=0 * n,
                metadata={
                    **(neuron_metadata or {}),
                    "nengo_type": type(kind).__name__,
                    "nengo_synapse": tau or 0.0,
                    "dropped": {"tau_ref": getattr(kind, "tau_ref", 0.0), "min_voltage": 0.0},
                },
            )
            edges.append((last, f"{layer.name}.neurons"))
            last = f"{layer.name}.neurons"
        spikes_in = relu
    if not any(isinstance(node, nir.CubaLIF) for node in nodes.values()):
        raise NIRExportError("the model has no ReLU layer to export as neurons")
    nodes["output"] = nir.Output({"output": np.array(shape)})
    edges.append((last, "output"))
    return nir.NIRGraph(
        nodes,
        edges,
        metadata={
            **(metadata or {}),
            "time": "per-step",
            "dt": IMPORTER_STEP,
            "nengo_dt": dt,
            "readout": "sum the output over the steps; the class is its argmax",
            "norse": f"norse.torch.from_nir(graph, dt={IMPORTER_STEP})",
        },
    )


def export(run_dir: str | Path, out: str | Path, config=None, target: str = "portable") -> dict:
    """Write a trained run as a NIR file, its neurons as deployed (`deploy.run`).

    Parameters
    ----------
    run_dir : str or Path
        The training run.
    out : str or Path
        The ``.nir`` file to write (atomically).
    config : DeployConfig or None
        Synapse, firing-rate scale, dt and max rate (those of a deployment).
    target : str
        ``portable`` (default): per-step ``CubaLIF`` layers that snnTorch's and
        Norse's importers run unmodified (`to_portable_nir`); ``nengo``: NIR's
        continuous-time nodes with the synapses as ``LI`` (`to_nir`), which
        `to_nengo` reads back exactly.

    Returns
    -------
    summary : dict
        The nodes written, the neuron type and the mapping (MIF/MIF2).
    """
    import nir
    from nengo_mif.deploy.config import DeployConfig
    from nengo_mif.deploy.run import loihi_neurons_for
    from nengo_mif.networks import checkpoint
    from nengo_mif.networks.config import for_run
    from nengo_mif.networks.run import Run

    from nengo_mif.registry import neuron_type, record

    if target not in TARGETS:
        raise NIRExportError(f"target {target!r}: choose one of {', '.join(TARGETS)}")
    out = Path(out)
    if out.is_dir():
        raise NIRExportError(f"{out} is a folder; give the .nir file to write")
    checkpoint.check_writable(out.parent)
    run = Run.open(run_dir)
    config = for_run(config or DeployConfig(), run.state.get("settings", {}))
    model = run.keras_model()
    neurons = loihi_neurons_for(run, model, config)
    kind, mapping = neurons.kind, neurons.mapping
    neuron_metadata = {"trained_neuron": run.config.neuron}
    if mapping is not None:
        source = neuron_type(record(run.config.neuron).spiking)
        neuron_metadata.update(
            source_neuron=type(source).__name__,
            source_parameters={p: float(getattr(source, p)) for p in _params(source)},
            fit_rms_error=mapping.rms_error,
            fit_input_range=[0.0, mapping.u_max],
            fit_gain=mapping.gain,
            note="the source neuron mapped onto a LIF (nengo_mif.deploy.mapping)",
        )
    build = to_portable_nir if target == "portable" else to_nir
    extra = {"dt": config.dt} if target == "portable" else {}
    graph = build(
        model,
        kind,
        scale=neurons.scale,
        gain_factor=neurons.gain_factor,
        synapse=config.synapse,
        neuron_metadata=neuron_metadata,
        **extra,
        metadata={
            "producer": "nengo-mif",
            "run_dir": str(run_dir),
            **({} if target == "portable" else {"dt": config.dt}),
            "trained_neuron": run.config.neuron,
            "input": "analog current (image pixels, constant over the presentation)",
        },
    )
    tmp = out.with_name(f".{out.name}.tmp")
    nir.write(tmp, graph)
    tmp.replace(out)
    return dict(
        path=str(out),
        nodes={k: type(v).__name__ for k, v in graph.nodes.items()},
        neuron=type(kind).__name__,
        target=target,
        mapping=mapping.as_dict() if mapping else None,
    )


def _params(kind) -> list[str]:
    from nengo.params import iter_params

    return [p for p in iter_params(kind) if isinstance(getattr(kind, p), (int, float))]


def to_nengo(graph, dt: float = 0.001) -> tuple[nengo.Network, nengo.Node, nengo.Probe]:
    """A nengo network from a NIR graph: `to_nir`'s, `to_portable_nir`'s or a torch framework's.

    A graph whose metadata says ``time: continuous`` (`to_nir`) is read as NIR defines
    it: continuous-time nodes, unit-area spikes. Any other graph is read as the torch
    importers run it: one step of ``metadata["dt"]`` (1e-4 s, snnTorch's, if absent) per
    nengo step of ``dt``, Euler's rule, one unit per spike per step, reset to
    ``v_reset``, no refractory period, no voltage floor, every neuron starting at 0
    (tested: a layer without a synapse spikes exactly as the importers' rule; behind
    a synapse the counts differ by a few percent, not yet explained: one step of
    timing in nengo's Lowpass is the suspect). So a graph snnTorch writes
    gives snnTorch's outputs.

    Returns
    -------
    net, input, output : nengo.Network, nengo.Node, nengo.Probe
        The network, its input node (set ``input.output``) and a probe on its output.
    """
    import nir

    per_step = graph.metadata.get("time") != "continuous"
    step = float(graph.metadata.get("dt", IMPORTER_STEP))

    def tau(t: np.ndarray) -> float | None:
        """A time constant as nengo's at ``dt``; None for one that forgets every step."""
        t = float(np.ravel(t)[0])
        if not per_step:
            return t
        decay = 1 - step / t
        return None if decay <= 0 else -dt / np.log(decay)

    order = _topological(graph)
    with nengo.Network(label="from NIR") as net:
        objs, synapse, shapes = {}, {}, {}
        for prev, name in zip([None, *order], order):  # a chain: each node feeds the next
            node = graph.nodes[name]
            src, syn = objs.get(prev), synapse.get(prev)
            shapes[name] = shapes.get(prev)  # channels first; changed below where it changes
            if isinstance(node, nir.Input):
                shapes[name] = tuple(int(d) for d in np.ravel(node.input_type["input"]))
                feed = _Feed(int(np.prod(shapes[name])))
                objs[name] = inp = feed.node = nengo.Node(feed, size_out=feed.size, label=name)
            elif isinstance(node, nir.Flatten):
                objs[name], synapse[name] = src, syn
                shapes[name] = None if shapes[name] is None else (int(np.prod(shapes[name])),)
            elif isinstance(node, nir.Output):
                objs[name], synapse[name] = src, syn
            elif isinstance(node, nir.LI):
                if not (np.allclose(node.r, 1) and np.allclose(node.v_leak, 0)):
                    raise NIRExportError(f"node {name!r}: only LI with r=1, v_leak=0 (a synapse)")
                objs[name], synapse[name] = src, tau(node.tau)
            elif isinstance(node, (nir.Conv2d, nir.Affine, nir.Linear)):
                transform = _transform(node, name, shapes[name])
                shapes[name] = (
                    tuple(int(d) for d in transform.output_shape.shape)
                    if isinstance(transform, nengo.Convolution)
                    else (transform.size_out,)
                )
                post = nengo.Node(size_in=transform.size_out, label=name)
                nengo.Connection(src, post, transform=transform, synapse=syn)
                bias = np.ravel(getattr(node, "bias", np.zeros(transform.size_out))).astype(float)
                if isinstance(node, nir.Conv2d):  # per channel, channels first
                    bias = np.repeat(bias, transform.size_out // len(bias))
                const = nengo.Node(1.0, label=f"{name}.bias")
                nengo.Connection(const, post, transform=bias[:, None], synapse=None)
                objs[name] = post
            elif isinstance(node, (nir.LIF, nir.IF, nir.CubaLIF)):
                objs[name] = _neurons(node, name, src, tau, per_step, step, dt)
            else:
                raise NIRExportError(
                    f"node {name!r}: {type(node).__name__} is not read back; to_nengo reads "
                    "Input, Output, Affine, Linear, Conv2d, Flatten, LI, LIF, CubaLIF and IF"
                )
        out = nengo.Probe(objs[order[-1]], synapse=synapse.get(order[-1]))
    return net, inp, out


def _neurons(node, name: str, src, tau, per_step: bool, step: float, dt: float):
    """A NIR neuron node as an ensemble fed from ``src``; returns its neurons.

    ``CubaLIF``'s synapse (``tau_syn dI/dt = -I + w_in x``) is a Lowpass with
    transform ``w_in`` into the neurons, in both readings: Euler's step with
    ``a = 1 - step / tau_syn`` equals nengo's Lowpass at ``-dt / ln a``. Per step,
    a spike is one unit (nengo's amplitude ``dt``); in continuous time, unit area.
    """
    import nir

    r = np.ravel(node.r)
    span = np.ravel(node.v_threshold - node.v_reset)
    if not np.all(span > 0):
        raise NIRExportError(
            f"node {name!r}: v_threshold must lie above v_reset (a neuron that "
            "resets to its threshold never stops firing); fix the graph"
        )
    leak = 0.0 if isinstance(node, nir.IF) else np.ravel(node.v_leak)
    amplitude = dt if per_step else 1.0
    # the torch importers start every neuron at 0; nengo's default start is uniform
    start = {"initial_state": {"voltage": nengo.dists.Choice([0.0])}} if per_step else {}
    if isinstance(node, nir.IF):
        kind = nengo.SpikingRectifiedLinear(amplitude=amplitude, **start)
        if per_step:  # v += r I step: nengo integrates J dt
            r = r * step / dt
    else:
        tau_mem = node.tau_mem if isinstance(node, nir.CubaLIF) else node.tau
        kind = nengo.LIF(
            tau_rc=tau(tau_mem) or 1e-9,  # forgets every step
            tau_ref=0.0 if per_step else node.metadata.get("tau_ref", 0.0),
            min_voltage=-np.inf if per_step else 0.0,
            amplitude=amplitude,
            **start,
        )
    ens = nengo.Ensemble(
        len(r), 1, neuron_type=kind, gain=r / span, bias=(leak - np.ravel(node.v_reset)) / span,
        label=name,
    )  # fmt: skip
    if isinstance(node, nir.CubaLIF):
        w_in = np.ravel(node.w_in)
        nengo.Connection(src, ens.neurons, transform=w_in, synapse=tau(node.tau_syn))
    else:
        nengo.Connection(src, ens.neurons, synapse=None)
    return ens.neurons


class _Feed:
    """The input node's output: set ``input.output`` before building, as in nengo.

    nengo copies a node's output when the simulator is built; one set afterwards
    would be ignored (every image would read the first), so this refuses to run on.
    """

    def __init__(self, size: int):
        self.size = size
        self.node = None  # the node it feeds, set once that exists

    def __call__(self, t):
        if self.node is not None and self.node.output is not self:
            raise NIRExportError(
                f"input node {self.node.label!r}: its output was set after the simulator "
                "was built, which nengo ignores; set input.output before building"
            )
        return np.zeros(self.size)


def _topological(graph) -> list[str]:
    if not graph.nodes:
        raise NIRExportError("the NIR graph has no nodes")
    succ = {a: b for a, b in graph.edges}
    start = next(n for n in graph.nodes if n not in succ.values())
    order = [start]
    while order[-1] in succ:
        order.append(succ[order[-1]])
    if len(order) != len(graph.nodes):
        raise NIRExportError("the NIR graph is not a single chain of nodes")
    return order


def _transform(node, name: str, shape_in) -> nengo.Dense | nengo.Convolution:
    """The node's weights as a nengo transform; ``shape_in``: what arrives, channels first
    (None where the graph does not say), for a Conv2d without its ``input_shape``."""
    import nir

    if isinstance(node, (nir.Affine, nir.Linear)):
        return nengo.Dense(node.weight.shape, init=node.weight)
    c_out, c_in, kh, kw = node.weight.shape
    if np.any(np.asarray(node.padding) != 0) or np.any(np.asarray(node.dilation) != 1):
        raise NIRExportError(f"node {name!r}: Conv2d with padding or dilation is not read back")
    spatial = node.input_shape
    if spatial is None:  # snnTorch's export leaves it out: what arrives says it
        if shape_in is None or len(shape_in) != 3 or shape_in[0] != c_in:
            raise NIRExportError(
                f"node {name!r}: Conv2d has no input_shape and the nodes before it do not "
                f"give a ({c_in}, H, W) input; set the node's input_shape to (H, W)"
            )
        spatial = shape_in[1:]
    return nengo.Convolution(
        c_out,
        (c_in, *(int(d) for d in np.ravel(spatial))),
        kernel_size=(kh, kw),
        strides=tuple(int(s) for s in np.broadcast_to(node.stride, 2)),
        channels_last=False,
        init=node.weight.transpose(2, 3, 1, 0),
    )
