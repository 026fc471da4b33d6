"""The names that settings choose among, where the command line can read them cheaply.

Their implementations need TensorFlow (`nengo_mif.keras.encodings`,
`nengo_mif.keras.surrogates`); the names live here, importing nothing, so that the
settings and the CLI check them without loading it. Each implementation module
checks that it implements exactly these.
"""

#: how an image enters a spiking network over time
ENCODINGS = ("analog", "poisson", "bernoulli", "latency")
#: the surrogate derivatives of a spike that training through time can use
SURROGATES = ("atan", "fast_sigmoid", "sigmoid")
#: how a spiking layer passes gradients back when it trains through time
THROUGH_TIME_METHODS = ("spike-aware", "bptt")
