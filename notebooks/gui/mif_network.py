# A small network of memristive neurons: a sine wave represented by 100 MIF neurons,
# squared into 100 MIF2 neurons. Open with `nengo mif_network.py`.
import nengo
import numpy as np

import nengo_mif

model = nengo.Network(seed=1, label="MIF network")
with model:
    stim = nengo.Node(lambda t: np.sin(2 * np.pi * t), label="stim")
    a = nengo.Ensemble(100, 1, neuron_type=nengo_mif.MIF(), label="a")
    b = nengo.Ensemble(100, 1, neuron_type=nengo_mif.MIF2(), label="b")
    nengo.Connection(stim, a)
    nengo.Connection(a, b, function=lambda x: x**2, synapse=0.01)
