"""The neuron models in nengo core: rates, dynamics, stability, validation."""

import nengo
import numpy as np
import pytest
from nengo.exceptions import SimulationError, ValidationError

from nengo_mif import MIF, MIF2, circuit_lif

NEURON_TYPES = [MIF, MIF2]


def simulate_rates(neuron_type, J, dt, T):
    """Spike counts over ``T`` seconds, from nengo.Simulator with constant input J."""
    with nengo.Network(seed=1) as net:
        ens = nengo.Ensemble(
            len(J),
            1,
            neuron_type=neuron_type,
            gain=np.ones(len(J)),
            bias=J,
            encoders=np.ones((len(J), 1)),
        )
        probe = nengo.Probe(ens.neurons, "output")
    with nengo.Simulator(net, dt=dt, progress_bar=False) as sim:
        sim.run(T)
    return sim.data[probe].sum(axis=0) * dt / neuron_type.amplitude / T


@pytest.mark.parametrize("Neuron", NEURON_TYPES)
@pytest.mark.parametrize("dt", [1e-4, 1e-3, 1e-2])
def test_simulated_rate_matches_rates(Neuron, dt):
    neuron = Neuron()
    J = np.array([1.2, 1.5, 2.0, 3.0, 5.0, 8.0, 20.0, 60.0])
    expected = neuron.rates(J, 1.0, 0.0).ravel()
    assert np.all(expected >= 50)  # >= 100 spikes in 2 s: one spike is <= 1 %
    measured = simulate_rates(neuron, J, dt=dt, T=2.0)
    np.testing.assert_allclose(measured, expected, rtol=0.02)


@pytest.mark.parametrize("Neuron", NEURON_TYPES)
def test_silent_below_rheobase(Neuron):
    neuron = Neuron()
    J = np.array([-5.0, 0.0, 0.5, 0.99 * neuron.rheobase()])
    assert np.all(neuron.rates(J, 1.0, 0.0) == 0)
    assert np.all(simulate_rates(neuron, J, dt=1e-3, T=0.5) == 0)


def test_mif_isi_closed_form():
    neuron = MIF()
    J = np.array([1.1, 2.0, 10.0])
    tau, g, vh = neuron.tau_rc, neuron.g1_on, neuron.v_hold
    t_on = tau / g * np.log((1 - J / g) / (vh - J / g))
    t_off = tau * np.log((J - vh) / (J - 1))
    np.testing.assert_allclose(neuron.rates(J, 1, 0).ravel(), 1 / (t_on + t_off), rtol=1e-9)


def test_reference_time_constant():
    assert MIF().tau_rc == pytest.approx(2e-3)  # R_off C = 10 MOhm * 0.2 nF


def test_rate_ordering():
    """MIF (reset to v_off) fires faster than LIF; MIF2 (hyperpolarised) slower than MIF."""
    J = np.linspace(1.05, 50, 200)
    mif, mif2 = MIF().rates(J, 1, 0), MIF2().rates(J, 1, 0)
    assert np.all(mif > circuit_lif(MIF()).rates(J, 1, 0))
    assert np.all(mif > nengo.LIF().rates(J, 1, 0))
    assert np.all(mif2 < mif)


@pytest.mark.parametrize("Neuron", NEURON_TYPES)
@pytest.mark.parametrize("dt", [1e-4, 1e-3, 1e-2])
def test_bounded_for_huge_inputs(Neuron, dt, rng):
    neuron = Neuron()
    n = 6
    state = neuron.make_state(n, rng=rng)
    output = np.zeros(n)
    for J in ([1e6, -1e6, 1e6, 0, 5e5, -5e5], [-1e6, 1e6, 3, 1e6, -1e6, 0]):
        for _ in range(20):
            neuron.step(dt, np.array(J, dtype=float), output, **state)
            v = state["voltage"]
            assert np.all(np.isfinite(v)) and np.all(np.isfinite(output))
            assert np.all(v >= neuron.v_min)
            assert np.all(v <= max(1.0, 1e6 / neuron.g1_on))


@pytest.mark.parametrize("Neuron", NEURON_TYPES)
def test_nonfinite_input_raises(Neuron):
    neuron = Neuron()
    state = neuron.make_state(2)
    with pytest.raises(SimulationError, match="non-finite input"):
        neuron.step(1e-3, np.array([np.nan, 1.0]), np.zeros(2), **state)


@pytest.mark.parametrize(
    "kwargs, attr",
    [
        (dict(r_on=20e6), "r_on"),
        (dict(r_on=10e6), "r_on"),
        (dict(capacitance=0.0), "capacitance"),
        (dict(capacitance=-1e-9), "capacitance"),
        (dict(r_off=-1.0), "r_off"),
        (dict(v_on=0.4, v_off=0.5), "v_off"),
        (dict(v_off=-0.1), "v_off"),
        (dict(amplitude=0), "amplitude"),
    ],
)
@pytest.mark.parametrize("Neuron", NEURON_TYPES)
def test_invalid_parameters_raise(Neuron, kwargs, attr):
    with pytest.raises(ValidationError, match=attr):
        Neuron(**kwargs)


@pytest.mark.parametrize(
    "kwargs, attr",
    [
        (dict(t_m2=-1e-3), "t_m2"),
        (dict(t_m2=0.0), "t_m2"),
        (dict(r2_on=2e9), "r2_on"),
        (dict(e_reset=0.1), "e_reset"),
    ],
)
def test_invalid_mif2_parameters_raise(kwargs, attr):
    with pytest.raises(ValidationError, match=attr):
        MIF2(**kwargs)


@pytest.mark.parametrize("Neuron", NEURON_TYPES)
def test_ensemble_max_rates_intercepts(Neuron):
    neuron = Neuron()
    max_rates = np.array([100.0, 200.0, 400.0])
    intercepts = np.array([-0.5, 0.0, 0.5])
    gain, bias = neuron.gain_bias(max_rates, intercepts)
    r, i = neuron.max_rates_intercepts(gain, bias)
    np.testing.assert_allclose(r, max_rates, rtol=1e-6)
    np.testing.assert_allclose(i, intercepts, atol=1e-6)

    with nengo.Network(seed=0) as net:
        ens = nengo.Ensemble(
            3,
            1,
            neuron_type=neuron,
            max_rates=max_rates,
            intercepts=intercepts,
            encoders=np.ones((3, 1)),
        )
        probe = nengo.Probe(ens.neurons, "voltage")
    with nengo.Simulator(net, progress_bar=False) as sim:
        sim.run(0.01)
    assert sim.data[probe].shape == (10, 3)
    with pytest.raises(ValidationError, match="max_rates"):
        neuron.gain_bias([1e9], [0.0])


def test_mif2_refractory_hyperpolarises():
    """After a MIF2 spike the membrane is pulled below rest while M2 is on."""
    neuron = MIF2()
    for seed in range(20):
        with nengo.Network(seed=seed) as net:
            ens = nengo.Ensemble(1, 1, neuron_type=neuron, gain=[1.0], bias=[2.0], encoders=[[1.0]])
            pv = nengo.Probe(ens.neurons, "voltage")
            px1 = nengo.Probe(ens.neurons, "memristor1")
            px2 = nengo.Probe(ens.neurons, "memristor2")
        with nengo.Simulator(net, dt=1e-4, progress_bar=False) as sim:
            sim.run(0.05)
        v, x1, x2 = (sim.data[p][:, 0] for p in (pv, px1, px2))
        assert v.min() < 0 and x2.max() == 1 and x2.min() == 0
        # once M1 has discharged the membrane to v_hold (0.2 us after the spike), M2
        # holds it there or below; a step may end inside that discharge (x1 = 1)
        assert np.all(v[(x2 == 1) & (x1 == 0)] <= neuron.v_hold)


@pytest.mark.parametrize("dt", [1e-4, 1e-3, 1e-2])
@pytest.mark.parametrize("kwargs", [{}, dict(r_on=1e5, v_off=0.2), dict(r_on=3e5)])
def test_mif_closed_form_equals_event_loop(dt, kwargs, rng):
    """MIF's closed-form step agrees with the general event-by-event solution."""
    from nengo_mif import dynamics

    neuron = MIF(**kwargs)
    c = neuron.circuit()
    n = 4000
    J = np.concatenate([rng.uniform(-5, 10, n // 2), 10 ** rng.uniform(0, 4, n // 2)])
    x = (rng.rand(n) < 0.3).astype(float)
    v = np.where(x > 0, rng.uniform(neuron.v_hold, 1, n), rng.uniform(-0.5, 1, n))
    n1, v1, x1, _, _ = dynamics.step(c, dt, J, v.copy(), x.copy(), 0.0, 0.0)
    n2, v2, x2 = dynamics.mif_step(c, dt, J, v.copy(), x.copy())
    np.testing.assert_array_equal(n1, n2)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_allclose(v1, v2, atol=1e-9)
    np.testing.assert_allclose(dynamics.mif_rate(c, J), dynamics.rate(c, J), rtol=1e-9)


@pytest.mark.parametrize(
    "params", [{}, dict(t_m2=1e-7), dict(r2_on=1e4), dict(t_m2=5e-3, e_reset=-2.0)]
)
@pytest.mark.parametrize("dt", [1e-4, 1e-3, 1e-2])
def test_mif2_cycle_step_equals_the_general_event_loop(params, dt):
    """`cycle_step` (MIF2's step) reads the end state off one cycle; `step` loops."""
    from nengo_mif import dynamics

    c = MIF2(**params).circuit()
    rng = np.random.RandomState(0)
    n = 4000
    J = np.concatenate([rng.uniform(-5, 50, n // 2), 10 ** rng.uniform(-1, 3.7, n // 2)])
    v = rng.uniform(-0.5, 1, n)
    x1 = (rng.rand(n) < 0.3) * 1.0
    x2 = (rng.rand(n) < 0.5) * 1.0
    m2 = x2 * rng.uniform(0, c.t_m2, n)
    ref = dynamics.step(c, dt, J, v, x1, x2, m2)
    out = dynamics.cycle_step(c, dt, J, v, x1, x2, m2)
    assert ref[0].sum() > 100
    for a, b in zip(out, ref):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9)


def test_mif_decodes_a_vector_as_well_as_lif():
    """nengo's test_vector (3-D, 300 neurons, tolerance 0.1) sits near its tolerance for
    every type; over seeds, MIF's decoding error is LIF's, not worse.

    (Measured over 30 seeds: worst error LIF 0.098, MIF 0.097, MIF2 0.114.)
    """

    def worst_error(neuron_type, seed):
        f = lambda t: [np.sin(6.3 * t), np.cos(6.3 * t), np.cos(6.3 * t) ** 2]  # noqa: E731
        with nengo.Network(seed=seed) as m:
            inp = nengo.Node(f)
            a = nengo.Ensemble(300, 3, radius=1.5, neuron_type=neuron_type)
            nengo.Connection(inp, a)
            p = nengo.Probe(a, synapse=0.03)
        with nengo.Simulator(m, progress_bar=False) as sim:
            sim.run(1.0)
        target = np.vstack(f(sim.trange())).T
        delay, buf = 30, 100  # steps, as nengo's test: 0.03 s delay, 0.1 s ignored
        return np.abs(sim.data[p][delay:] - target[:-delay])[buf:].max()

    seeds = range(8)
    lif = [worst_error(nengo.LIF(), s) for s in seeds]
    mif = [worst_error(MIF(), s) for s in seeds]
    assert np.mean(mif) < 1.1 * np.mean(lif)
    assert max(mif) < 0.12


def _fine_step_rates(neuron, J, h_slow, h_fast=1e-9, n_spikes=3):
    """MIF2's circuit written out again and stepped with exact exponentials at fixed
    switch states, switches applied at step boundaries (1 ns steps while M1 is on: its
    discharge lasts ~0.2 us). Independent of `nengo_mif.dynamics`; rates from ISIs."""
    n = neuron
    tau, g1 = n.r_off * n.capacitance, n.r_off / n.r_on
    v_hold = (n.v_off - n.e_rest) / (n.v_on - n.e_rest)
    g2_on, g2_off = n.r_off / n.r2_on, n.r_off / n.r2_off
    e = (n.e_reset - n.e_rest) / (n.v_on - n.e_rest)
    v, x1, x2, m2, t = (np.zeros_like(J) for _ in range(5))
    spikes = [[] for _ in J]
    done = np.zeros(len(J), bool)
    while not done.all():
        h = np.where(x1 > 0, h_fast, h_slow)
        g2 = np.where(x2 > 0, g2_on, g2_off)
        g = np.where(x1 > 0, g1, 1.0) + g2
        v_inf = (J + g2 * e) / g
        v = v_inf + (v - v_inf) * np.exp(-g * h / tau)
        t = t + h
        m2 = np.where(x2 > 0, m2 - h, 0.0)
        x2 = np.where(m2 > 0, x2, 0.0)
        x1 = np.where((x1 > 0) & (v <= v_hold), 0.0, x1)
        fire = (x1 == 0) & (v >= 1.0)
        for i in np.flatnonzero(fire & ~done):
            spikes[i].append(t[i])
            done[i] = len(spikes[i]) > n_spikes
        x1, x2 = np.where(fire, 1.0, x1), np.where(fire, 1.0, x2)
        m2 = np.where(fire, n.t_m2, m2)
    return np.array([1.0 / np.mean(np.diff(s[1:])) for s in spikes])


def test_mif2_rates_match_an_independent_fine_step_integration():
    """Below the knee (J < 16), at it, and in the refire regime above it."""
    neuron = MIF2()
    J = np.array([1.5, 2.0, 5.0, 10.0, 17.0, 40.0])
    h_slow = np.where(J > 16, 20e-9, 100e-9)  # ~1e-4 of the period either way
    reference = _fine_step_rates(neuron, J, h_slow)
    exact = neuron.rates(J, 1.0, 0.0).ravel() / neuron.amplitude
    np.testing.assert_allclose(exact, reference, rtol=5e-3)
