"""The names of the input encodings: how an image enters a spiking network over time.

`nengo_mif.layers.InputEncoding` implements them. The names live in this module, which
imports nothing heavy, so that the settings and the CLI can check them without
TensorFlow.
"""

ENCODINGS = ("analog", "poisson", "bernoulli", "latency")
