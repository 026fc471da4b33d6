import numpy as np
import pytest

import nengo_mif  # noqa: F401  (registers the NengoDL builders before any test)


@pytest.fixture
def rng():
    return np.random.RandomState(0)
