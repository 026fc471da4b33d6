"""NIR export: the graph, its weights and parameters, and the round trip into nengo."""

import nengo
import nir
import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_cnn
from nengo_mif.deploy import nir_graph
from nengo_mif.deploy.nir_graph import NIRExportError, to_nengo, to_nir
from nengo_mif.networks.config import TrainConfig
from nengo_mif.networks.train import train

from nengo_mif.cli import main
from nengo_mif.keras.convert import rate_model, rate_neuron_layers, spiking_model
from nengo_mif.registry import neuron_type


def small_net():
    tf.keras.utils.set_random_seed(0)
    inp = tf.keras.Input((12, 12, 2))
    x = tf.keras.layers.Conv2D(4, 3, activation="relu", name="c0")(inp)
    x = tf.keras.layers.Conv2D(6, 3, strides=2, activation="relu", name="c1")(x)
    x = tf.keras.layers.Flatten(name="flat")(x)
    return tf.keras.Model(inp, tf.keras.layers.Dense(3, name="out")(x))


def image():
    return np.random.RandomState(1).rand(1, 12, 12, 2).astype("float32")


def test_graph_holds_the_trained_weights_in_nir_layout(tmp_path):
    model, kind = small_net(), neuron_type("lif")
    path = tmp_path / "net.nir"
    nir.write(path, to_nir(model, kind, scale=2.0, synapse=0.005))
    graph = nir.read(path)
    assert graph.edges[0] == ("input", "c0") and graph.edges[-1] == ("output.synapse", "output")
    assert [type(graph.nodes[n]).__name__ for n in ("c0", "c0.neurons", "c0.synapse", "flat")] == [
        "Conv2d",
        "LIF",
        "LI",
        "Flatten",
    ]
    kernel, bias = model.get_layer("c0").get_weights()
    c0 = graph.nodes["c0"]
    np.testing.assert_allclose(c0.weight, kernel.transpose(3, 2, 0, 1))  # (out, in, kh, kw)
    np.testing.assert_allclose(c0.bias, bias + 1 / 2.0)  # + J_th / gain
    # the next layer receives spikes of area amplitude / scale
    np.testing.assert_allclose(
        graph.nodes["c1"].weight,
        kind.amplitude / 2.0 * model.get_layer("c1").get_weights()[0].transpose(3, 2, 0, 1),
        rtol=1e-6,
    )
    lif = graph.nodes["c1.neurons"]
    assert lif.tau.shape == (6, 4, 4)  # channels first
    np.testing.assert_allclose(lif.tau, kind.tau_rc)
    np.testing.assert_allclose(lif.r, 2.0)
    np.testing.assert_allclose(lif.v_threshold, 1.0)
    assert lif.metadata["tau_ref"] == kind.tau_ref
    np.testing.assert_allclose(graph.nodes["c0.synapse"].tau, 0.005)
    # Dense rows reordered from Keras's (H, W, C) flattening to NIR's (C, H, W)
    dense = graph.nodes["out"].weight
    keras_dense = model.get_layer("out").get_weights()[0]
    np.testing.assert_allclose(dense[:, 1], kind.amplitude / 2.0 * keras_dense[6, :], rtol=1e-6)


@pytest.mark.parametrize("name, scale", [("lif", 5.0), ("spiking-relu", 300.0)])
def test_round_trip_into_nengo_computes_the_original_network(name, scale):
    model, kind = small_net(), neuron_type(name)
    net, inp, probe = to_nengo(to_nir(model, kind, scale=scale, synapse=0.01))
    x = image()
    inp.output = np.moveaxis(x[0], -1, 0).ravel()
    with net:
        first = nengo.Probe(net.all_ensembles[0].neurons)
    with nengo.Simulator(net, progress_bar=False) as sim:
        sim.run(2.0)
    # first layer: each neuron's spike rate is the original network's rate curve
    rm = rate_model(model, kind, scale=scale)
    layer0 = tf.keras.Model(rm.input, rate_neuron_layers(rm)["c0"].output)(x).numpy()[0]
    expected = np.moveaxis(layer0, -1, 0).ravel() * scale / kind.amplitude
    measured = (sim.data[first] > 0).sum(axis=0) / 2.0
    assert expected.max() > 20
    np.testing.assert_allclose(measured, expected, atol=1.0 + 0.01 * expected.max())
    # output: the imported network's time-averaged output is the spiking engine's
    ref = spiking_model(model, kind, 2000, synapse=0.01, scale=scale).predict(x, 2000, 1)[0]
    np.testing.assert_allclose(
        sim.data[probe][1000:].mean(axis=0), ref[0, 1000:].mean(axis=0), atol=0.015
    )


def test_unexportable_layers_are_named():
    inp = tf.keras.Input((10, 10, 1))
    x = tf.keras.layers.Conv2D(2, 3, strides=2, padding="same", activation="relu", name="odd")(inp)
    model = tf.keras.Model(inp, tf.keras.layers.Dense(2)(tf.keras.layers.Flatten()(x)))
    with pytest.raises(NIRExportError, match="'odd'.*unevenly"):
        to_nir(model, neuron_type("lif"))
    with pytest.raises(NIRExportError, match="MIF has no NIR neuron node"):
        to_nir(small_net(), neuron_type("mif"))


@pytest.mark.slow
def test_export_command_writes_mif_as_its_fitted_lif(tiny_model, tmp_path, capsys):
    train(TrainConfig(model="tiny_cnn", neuron="mif", epochs=1, max_train=500), tmp_path / "run")
    out = tmp_path / "net.nir"
    args = ["export", str(tmp_path / "run"), str(out), "--synapse", "0.01"]
    assert main([*args, "--target", "nengo"]) == 0
    assert "fitted LIF" in capsys.readouterr().out
    graph = nir.read(out)
    meta = graph.nodes["conv1.neurons"].metadata
    assert meta["source_neuron"] == "MIF" and 0 < meta["fit_rms_error"] < 0.1
    assert meta["source_parameters"]["r_off"] == pytest.approx(1e7)
    assert isinstance(graph.nodes["conv1.neurons"], nir.LIF)
    assert graph.metadata["trained_neuron"] == "mif"
    # the weights are the run's (times the fitted neuron's input scaling)
    assert graph.nodes["output"].output_type["output"].tolist() == [10]
    assert tiny_cnn().get_layer("conv0").kernel.shape == (3, 3, 1, 8)
    assert graph.nodes["conv0"].weight.shape == (8, 1, 3, 3)
    assert not list(tmp_path.glob(".*.tmp"))
    # the default graph is the portable one, its neurons the same fitted LIF
    assert main(args) == 0
    assert "portable graph" in capsys.readouterr().out
    portable = nir.read(out).nodes["conv1.neurons"]
    assert isinstance(portable, nir.CubaLIF) and portable.metadata["source_neuron"] == "MIF"
    assert main([*args[:2], str(tmp_path)]) == 2  # a folder for the file: one line
    assert "is a folder" in capsys.readouterr().err


def _snntorch_style_graph(rng, **lif):
    """A graph as snnTorch's ``export_to_nir`` writes one: Conv2d without input_shape."""

    w = rng.normal(0, 0.5, (2, 1, 3, 3))
    nodes = {
        "input": nir.Input(input_type={"input": np.array([1, 6, 6])}),
        "conv": nir.Conv2d(
            input_shape=None, weight=w, stride=1, padding=0, dilation=1, groups=1, bias=np.zeros(2)
        ),
        "flat": nir.Flatten(input_type={"input": np.array([2, 4, 4])}, start_dim=0),
        "fc": nir.Linear(weight=rng.normal(0, 0.3, (3, 32))),
        "lif": nir.LIF(
            **{
                "tau": np.full(3, 0.01),
                "r": np.ones(3),
                "v_leak": np.zeros(3),
                "v_threshold": np.ones(3),
                "v_reset": np.zeros(3),
                **lif,
            }
        ),
        "output": nir.Output(output_type={"output": np.array([3])}),
    }
    edges = [(a, b) for a, b in zip(list(nodes)[:-1], list(nodes)[1:])]
    return nir.NIRGraph(nodes=nodes, edges=edges)


def test_graphs_other_frameworks_write_are_read_or_refused_by_name(rng):
    # a Conv2d without input_shape takes it from what arrives; a Linear has no bias
    net, inp, probe = to_nengo(_snntorch_style_graph(rng))
    conv = next(c for c in net.all_connections if isinstance(c.transform, nengo.Convolution))
    assert conv.transform.input_shape.shape == (1, 6, 6)
    with nengo.Simulator(net, progress_bar=False) as sim:
        sim.run_steps(5)
    with pytest.raises(NIRExportError, match="node 'lif': v_threshold must lie above v_reset"):
        to_nengo(_snntorch_style_graph(rng, v_reset=np.ones(3)))
    with pytest.raises(NIRExportError, match="has no nodes"):
        to_nengo(nir.NIRGraph(nodes={}, edges=[]))
    graph = _snntorch_style_graph(rng)
    graph.nodes["conv"] = nir.Conv2d(
        input_shape=None, weight=np.ones((2, 3, 3, 3)), stride=1, padding=0, dilation=1,
        groups=1, bias=np.zeros(2),
    )  # fmt: skip
    with pytest.raises(NIRExportError, match="node 'conv': Conv2d has no input_shape"):
        to_nengo(graph)
    graph = _snntorch_style_graph(rng)
    graph.nodes["flat"] = nir.Threshold(np.ones(32))
    with pytest.raises(NIRExportError, match="node 'flat': Threshold is not read back; to_nengo"):
        to_nengo(graph)


@pytest.mark.parametrize("name", ["lif", "spiking-relu"])
def test_to_nengo_runs_a_portable_graph_as_the_torch_importers_do(name):
    """Per step, nengo reads the graph as snnTorch and Norse run it (`_step_portable`)."""
    from nengo_mif.deploy.mapping import loihi_version

    model, kind = small_net(), loihi_version(neuron_type(name))
    scale = 3.0 if name == "lif" else 200.0
    graph = nir_graph.to_portable_nir(model, kind, scale=scale, synapse=0.005)
    x = image()
    expected = _step_portable(graph, np.moveaxis(x, -1, 1).astype(np.float64), 60)[0]
    net, inp, probe = to_nengo(graph)
    inp.output = np.moveaxis(x[0], -1, 0).ravel()
    with nengo.Simulator(net, progress_bar=False) as sim:
        sim.run_steps(60)
    measured = sim.data[probe].sum(axis=0)
    assert np.abs(expected).max() > 1
    # behind the synapses the counts differ by a few percent (see to_nengo)
    np.testing.assert_allclose(measured, expected, atol=0.3 * np.abs(expected).max())
    assert np.argmax(measured) == np.argmax(expected)
    # the first layer (no synapse) spikes exactly as the importers' rule
    first = nir.NIRGraph(
        {k: graph.nodes[k] for k in ("input", "c0", "c0.neurons")},
        [("input", "c0"), ("c0", "c0.neurons")],
        metadata=graph.metadata,
    )
    net, inp, probe = to_nengo(first)
    inp.output = np.moveaxis(x[0], -1, 0).ravel()
    with nengo.Simulator(net, progress_bar=False) as sim:
        sim.run_steps(60)
    counts = _step_portable(first, np.moveaxis(x, -1, 1).astype(np.float64), 60)[0]
    assert counts.sum() > 100
    np.testing.assert_array_equal(sim.data[probe].sum(axis=0), counts)


def test_an_input_set_after_the_build_is_refused_not_ignored(rng):
    net, inp, probe = to_nengo(_snntorch_style_graph(rng))
    inp.output = np.ones(36)  # before the build: used
    with nengo.Simulator(net, progress_bar=False) as sim:
        sim.run_steps(3)
    net, inp, probe = to_nengo(_snntorch_style_graph(rng))
    with nengo.Simulator(net, progress_bar=False) as sim:
        sim.run_steps(2)
        inp.output = np.ones(36)  # after: nengo would ignore it
        with pytest.raises(NIRExportError, match="set after the simulator was built"):
            sim.run_steps(1)


def _step_portable(graph, x: np.ndarray, steps: int) -> np.ndarray:
    """The per-step rule snnTorch and Norse apply to a portable graph, in numpy."""
    order = [n for n, _ in graph.edges] + [graph.edges[-1][1]]
    state, total = {}, 0.0
    for _ in range(steps):
        h = x  # (N, C, H, W)
        for name in order:
            node = graph.nodes[name]
            if isinstance(node, nir.Conv2d):  # the exported nets pad nothing
                kernel = node.weight.transpose(2, 3, 1, 0)
                h = tf.nn.conv2d(np.moveaxis(h, 1, -1), kernel, tuple(node.stride), "VALID")
                h = np.moveaxis(h.numpy(), -1, 1) + node.bias[:, None, None]
            elif isinstance(node, nir.CubaLIF):
                a = 1 - nir_graph.IMPORTER_STEP / node.tau_syn
                b = 1 - nir_graph.IMPORTER_STEP / node.tau_mem
                i, v = state.get(name, (0.0, 0.0))
                i = a * i + h
                v = b * v + i
                h = (v > node.v_threshold).astype(np.float64)
                state[name] = (i, np.where(h > 0, 0.0, v))
        total = total + h.reshape(len(x), -1)
    return total


@pytest.mark.parametrize("name", ["lif", "spiking-relu"])
def test_portable_graph_is_what_torch_importers_accept(name, tmp_path):
    from nengo_mif.deploy.mapping import loihi_version

    model, kind = small_net(), loihi_version(neuron_type(name))
    path = tmp_path / "net.nir"
    nir.write(path, nir_graph.to_portable_nir(model, kind, scale=3.0, synapse=0.005))
    graph = nir.read(path)
    kinds = [type(n).__name__ for n in graph.nodes.values()]
    # no LI, IF, Flatten: the nodes snnTorch and Norse do not run as NIR means them
    assert set(kinds) == {"Input", "Conv2d", "CubaLIF", "Output"}
    for node in graph.nodes.values():
        if isinstance(node, nir.CubaLIF):  # snnTorch's asserts, at its dt of 1e-4
            np.testing.assert_allclose(node.r, node.tau_mem / 1e-4)
            np.testing.assert_allclose(node.w_in * 1e-4 / node.tau_syn, 1.0)
            assert np.allclose(node.v_leak, 0) and np.unique(node.v_threshold).size == 1
    assert graph.nodes["c0.neurons"].tau_syn.min() == pytest.approx(1e-4)  # no input synapse
    assert graph.nodes["c1.neurons"].metadata["nengo_synapse"] == 0.005
    # the dense readout over the (6, 4, 4) map is a convolution of the map's size
    assert graph.nodes["out"].weight.shape == (3, 6, 4, 4)
    assert graph.nodes["output"].output_type["output"].tolist() == [3, 1, 1]


def test_portable_graph_steps_as_loihi_neurons_do():
    """The first layer's spikes per step equal nengo-loihi's neuron step on the same current."""

    from nengo_loihi.neurons import LoihiLIF

    model, kind, scale, dt = (
        small_net(),
        LoihiLIF(tau_ref=0.0),
        4.0,
        0.001,
    )  # the graph drops tau_ref
    graph = nir_graph.to_portable_nir(model, kind, scale=scale, synapse=None, dt=dt)
    x = image()
    first = tf.keras.Model(model.input, model.get_layer("c0").output)
    first.get_layer("c0").activation = tf.keras.activations.linear
    z = np.moveaxis(first(x).numpy()[0], -1, 0).ravel().astype(np.float64)
    J = scale * z + 1.0  # gain * (z + threshold / gain)
    v, out = np.zeros_like(J), np.zeros_like(J)
    ref = np.zeros_like(J)
    for _ in range(40):
        kind.step(dt, J, out, v, np.zeros_like(J))
        ref += out > 0
    one = nir.NIRGraph(
        {k: graph.nodes[k] for k in ("input", "c0", "c0.neurons")},
        [("input", "c0"), ("c0", "c0.neurons")],
    )
    counts = _step_portable(one, np.moveaxis(x, -1, 1).astype(np.float64), 40)[0]
    assert ref.max() > 5
    np.testing.assert_array_equal(counts, np.round(ref))
