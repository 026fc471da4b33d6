"""The NengoDL engine: native builders for MIF and MIF2, conversion, fitting, simulation.

`builders` registers in NengoDL's ``TF_NEURON_IMPL`` when NengoDL is imported
(`hook`, installed by ``import nengo_mif``); `conversion` turns a Keras model into
a Nengo network; `fit` trains it; `engine` is the engine object (registered as
``"nengo-dl"``, imported on demand by `nengo_mif.engines.engine`). This package's
own import loads nothing heavy, so that the hook costs nengo core users nothing.
"""
