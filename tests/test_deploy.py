"""Deployment to the Loihi emulator: mapping, placement, agreement with NengoDL."""

import nengo
import numpy as np
import pytest
from conftest import tiny_cnn
from nengo_mif.deploy.config import DeployConfig
from nengo_mif.deploy.mapping import fit_lif, starting_as_nengo
from nengo_mif.deploy.placement import DeployError, block_shape_for, place
from nengo_mif.deploy.run import deploy
from nengo_mif.networks import models
from nengo_mif.networks.config import ConfigError, TrainConfig
from nengo_mif.networks.train import train

from nengo_mif import MIF, MIF2
from nengo_mif.dl.conversion import convert


@pytest.mark.parametrize("neuron", [MIF(amplitude=1e-3), MIF2(amplitude=2e-3)])
def test_lif_mapping_fits(neuron):
    m = fit_lif(neuron, u_max=2.0)
    assert m.rms_error < 0.08
    assert m.gain >= 1  # not squeezed into a narrow band above threshold
    tight = fit_lif(neuron, u_max=2.0, min_gain=0)
    assert tight.rms_error <= m.rms_error
    assert 0 < m.tau_rc and 0 <= m.tau_ref
    u = np.linspace(0, 2.0, 50)
    lif = m.neuron()
    from nengo_loihi.neurons import loihi_rates

    mapped = loihi_rates(lif, 1 + m.gain * u, np.ones(1), np.zeros(1), 0.001).ravel()
    assert mapped.max() <= m.max_rate + 1  # Loihi-friendly: well under 1 spike/step


def test_mapping_rejects_bad_requests():
    with pytest.raises(TypeError, match="no Loihi mapping for LIF"):
        fit_lif(nengo.LIF(), 1.0)
    with pytest.raises(ValueError, match="one spike per step"):
        fit_lif(MIF(), 1.0, max_rate=2000)


def test_block_shapes_fit_a_core():
    for shape in [(26, 26, 32), (12, 12, 64), (5, 5, 128), (3, 3, 3)]:
        block = block_shape_for(shape)
        assert np.prod(block) <= 1024 and all(b <= s for b, s in zip(block, shape))


def test_unmapped_memristive_layer_on_chip_is_a_clear_error(tiny_model):
    conv = convert(tiny_cnn(), "mif")
    with pytest.raises(DeployError, match="conv1.*MIF cannot run on Loihi.*on_chip=False"):
        place(conv)


def test_oversized_block_is_a_clear_error():
    conv = convert(models.mnist_cnn(), "lif")
    with pytest.raises(DeployError, match="conv1.*2304 compartments.*1024"):
        place(conv, default_block=(12, 12, 16))
    with pytest.raises(DeployError, match="conv1.*does not fit"):
        place(conv, default_block=(13, 12, 16))


@pytest.mark.slow
@pytest.mark.parametrize("neuron", ["relu", "lif", "mif"])
def test_emulator_agrees_with_nengo_dl(neuron, tiny_model, tmp_path):
    cfg = TrainConfig(model="tiny_cnn", neuron=neuron, epochs=2, max_train=2000)
    train(cfg, tmp_path, verbose=False)
    # a tiny net after 2 epochs fires sparsely: 60 steps give both simulators enough spikes
    report = deploy(tmp_path, DeployConfig(n_test=40, n_steps=60, synapse=0.01), progress=False)
    assert report["settings"]["readout_steps"] == 1
    assert report["agreement"] >= 0.8  # chance is ~0.1; 0.9 measured for each type
    assert report["loihi_accuracy"] > 0.35 and report["nengo_dl_accuracy"] > 0.35
    assert report["placement"]["conv0"]["on_chip"] is False
    assert report["placement"]["conv1"]["on_chip"] is True
    assert report["resources"]["cores"] >= 1
    assert report["resources"]["layers"]["conv1"]["compartments"] == 6 * 6 * 16
    if neuron == "mif":
        assert report["mapping"]["source"] == "MIF" and report["mapping"]["rms_error"] < 0.1
    else:
        assert report["mapping"] is None


def test_deployed_neurons_start_as_nengo_types_do():
    """Loihi's types start at zero voltage; NengoDL's twin of the chip must not.

    NengoDL starts every image afresh. From zero, a neuron firing less than once per
    presentation stays silent; the chip, which cannot reset, starts each image where
    the last one left it, as nengo's own types start: uniform in [0, 1).
    """
    import nengo_dl
    from nengo_loihi.neurons import LoihiLIF, LoihiSpikingRectifiedLinear

    lif = starting_as_nengo(LoihiLIF(tau_rc=0.03, tau_ref=0.001, amplitude=0.01))
    assert (lif.tau_rc, lif.tau_ref, lif.amplitude) == (0.03, 0.001, 0.01)
    n, steps, hz = 400, 30, 20.0  # J = 20: one spike per 50 steps from zero
    rates = {}
    for start, kind in [
        ("zero", LoihiSpikingRectifiedLinear()),
        ("nengo", starting_as_nengo(LoihiSpikingRectifiedLinear())),
    ]:
        with nengo.Network(seed=0) as net:
            ens = nengo.Ensemble(
                n,
                1,
                neuron_type=kind,
                gain=nengo.dists.Choice([1.0]),
                bias=nengo.dists.Choice([hz]),
            )
            probe = nengo.Probe(ens.neurons)
        with nengo_dl.Simulator(net, progress_bar=False) as sim:
            sim.run_steps(steps)
        rates[start] = (sim.data[probe] > 0).sum() / (n * steps * sim.dt)
    assert rates["zero"] == 0
    assert rates["nengo"] == pytest.approx(hz, rel=0.2)


def test_readout_window_comes_from_the_run_and_is_checked():
    from nengo_mif.networks.config import for_run

    assert for_run(DeployConfig(), {"readout_steps": 4}).readout_steps == 4
    assert for_run(DeployConfig(readout_steps=2), {"readout_steps": 4}).readout_steps == 2
    with pytest.raises(ConfigError, match="readout_steps .* at most n_steps"):
        DeployConfig(n_steps=30, readout_steps=31)


def test_images_are_followed_by_blank_steps():
    from nengo_mif.deploy.run import present_with_blanks

    images = np.arange(1, 4, dtype=float)[:, None] * np.ones((3, 2))
    present = present_with_blanks(images, n_steps=3, blank_steps=2, dt=0.001)
    shown = [present(0.001 * (k + 1))[0] for k in range(15)]  # nengo's t of step k
    assert shown == [1, 1, 1, 0, 0, 2, 2, 2, 0, 0, 3, 3, 3, 0, 0]
    no_blank = present_with_blanks(images, n_steps=2, blank_steps=0, dt=0.002)
    assert [no_blank(0.002 * (k + 1))[0] for k in range(6)] == [1, 1, 2, 2, 3, 3]
