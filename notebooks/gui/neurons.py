# LIF, MIF and MIF2 side by side, each a single neuron driven by the same sine wave
# (input J = 2 + sin(2 pi t): bias 2 plus the sine; 1 = rheobase). Open with
# `nengo neurons.py`.
# Plots: input value; per neuron a spike raster, its voltage (normalised: rest 0,
# threshold 1), and the filtered output.
import nengo
import numpy as np

import nengo_mif

model = nengo.Network(seed=0, label="LIF vs MIF vs MIF2")
with model:
    sine = nengo.Node(lambda t: np.sin(2 * np.pi * t), label="sine")
    kinds = {
        "LIF": nengo_mif.circuit_lif(nengo_mif.MIF()),  # same membrane, tau_rc = R_off C
        "MIF": nengo_mif.MIF(),
        "MIF2": nengo_mif.MIF2(),
    }
    neurons = {}
    for name, kind in kinds.items():
        ens = nengo.Ensemble(
            1, 1, neuron_type=kind, gain=[1.0], bias=[2.0], encoders=[[1.0]], label=name
        )
        nengo.Connection(sine, ens.neurons, synapse=None)
        neurons[name] = ens
    lif, mif, mif2 = neurons["LIF"], neurons["MIF"], neurons["MIF2"]
