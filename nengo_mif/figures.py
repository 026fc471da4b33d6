"""Figures of the single-neuron behaviour of LIF, MIF and MIF2 (as in the seed thesis).

`sine_response` drives one neuron with a 1 s sine wave and plots input and spikes,
the filtered output, and spike events over raw membrane voltage (in volts) for the
first 0.25 s; `rate_curves` puts the three rate curves on one plot.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nengo  # noqa: E402
import numpy as np  # noqa: E402

from nengo_mif.neurons import MIF, MIF2, circuit_lif  # noqa: E402


def default_neurons() -> dict[str, nengo.neurons.NeuronType]:
    """LIF with the memristor's off-state membrane (tau_rc = R_off C), MIF, MIF2.

    Returns
    -------
    neurons : dict
    """
    return {"LIF": circuit_lif(MIF()), "MIF": MIF(), "MIF2": MIF2()}


def simulate_sine(
    neuron,
    amplitude: float = 1.0,
    offset: float = 2.0,
    freq: float = 1.0,
    T: float = 1.0,
    dt: float = 1e-4,
    synapse: float = 0.01,
) -> dict:
    """One neuron, input current ``J = offset + amplitude * sin(2 pi f t)``.

    Returns
    -------
    traces : dict
        Time, input, voltage and spikes.
    """
    with nengo.Network(seed=0) as net:
        stim = nengo.Node(lambda t: offset + amplitude * np.sin(2 * np.pi * freq * t))
        ens = nengo.Ensemble(1, 1, neuron_type=neuron, gain=[1.0], bias=[0.0], encoders=[[1.0]])
        nengo.Connection(stim, ens.neurons, synapse=None)
        p_in = nengo.Probe(stim)
        p_spikes = nengo.Probe(ens.neurons, "output")
        p_filt = nengo.Probe(ens.neurons, "output", synapse=synapse)
        p_v = nengo.Probe(ens.neurons, "voltage")
    with nengo.Simulator(net, dt=dt, progress_bar=False) as sim:
        sim.run(T)
    return dict(
        t=sim.trange(),
        J=sim.data[p_in][:, 0],
        spikes=sim.data[p_spikes][:, 0],
        filtered=sim.data[p_filt][:, 0],
        voltage=sim.data[p_v][:, 0],
        dt=dt,
    )


def sine_response(name: str, neuron, path: str | Path, **kwargs) -> Path:
    """Write the three-panel sine-wave figure of one neuron type to ``path``.

    Returns
    -------
    path : Path
    """
    r = simulate_sine(neuron, **kwargs)
    volts = neuron.to_volts(r["voltage"]) if hasattr(neuron, "to_volts") else r["voltage"]
    t, spike_t = r["t"], r["t"][r["spikes"] > 0]
    fig, axes = plt.subplots(3, 1, figsize=(8, 8), constrained_layout=True)
    axes[0].plot(t, r["J"], label="input J")
    axes[0].vlines(
        spike_t,
        r["J"].min() - 0.6,
        r["J"].min() - 0.2,
        color="k",
        lw=0.5,
        label=f"spikes ({len(spike_t)})",
    )
    axes[0].set(title=f"{name}: sine-wave input and spikes", xlabel="time (s)")
    axes[0].legend(loc="upper right")
    axes[1].plot(t, r["filtered"] / getattr(neuron, "amplitude", 1.0))
    axes[1].set(title="filtered output (Lowpass 10 ms)", xlabel="time (s)", ylabel="rate (Hz)")
    zoom = t <= 0.25
    axes[2].plot(t[zoom], volts[zoom], lw=0.8, label="membrane voltage")
    axes[2].vlines(
        spike_t[spike_t <= 0.25],
        volts[zoom].max(),
        volts[zoom].max() * 1.1,
        color="r",
        lw=0.5,
        label="spike events",
    )
    axes[2].set(
        title="spike events and raw voltage, first 0.25 s",
        xlabel="time (s)",
        ylabel="V (volts)" if hasattr(neuron, "to_volts") else "v (normalised)",
    )
    axes[2].legend(loc="lower right")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def rate_curves(neurons: dict, path: str | Path, J_max: float = 10.0) -> Path:
    """The rate curves of several neuron types on one plot.

    Returns
    -------
    path : Path
    """
    J = np.linspace(0, J_max, 1001)
    fig, ax = plt.subplots(figsize=(7, 4.5), constrained_layout=True)
    for name, neuron in neurons.items():
        rates = neuron.rates(J, 1.0, 0.0).ravel() / getattr(neuron, "amplitude", 1.0)
        ax.plot(J, rates, label=name)
    ax.set(
        xlabel="input current J (1 = rheobase of LIF and MIF)",
        ylabel="firing rate (Hz)",
        title="Rate curves",
    )
    ax.legend()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def all_figures(out_dir: str | Path) -> list[Path]:
    """Every single-neuron figure, written to ``out_dir``.

    Returns
    -------
    paths : list of Path
    """
    out_dir = Path(out_dir)
    neurons = default_neurons()
    paths = [
        sine_response(name, n, out_dir / f"sine_{name.lower()}.png") for name, n in neurons.items()
    ]
    paths.append(rate_curves(neurons, out_dir / "rate_curves.png"))
    return paths
