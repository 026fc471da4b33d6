# Two commands a user needs: `make demo` and `make test`. Each creates or reuses .venv.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
# nengo's own generic neuron-type tests, on MIF and MIF2 (tests/nengo_suite.ini)
NENGO_SUITE := $(BIN)/python -m pytest -c tests/nengo_suite.ini --rootdir . -q \
	--pyargs nengo.tests.test_neurons nengo.tests.test_ensemble -k "MIF"

.PHONY: demo test lint benchmark clean

$(BIN)/.installed: setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip "setuptools>=64" wheel
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

demo: $(BIN)/.installed
	$(BIN)/nengo-mif demo

test: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(NENGO_SUITE)
	$(NENGO_SUITE) -o nengo_simulator=nengo_dl.Simulator
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

benchmark: $(BIN)/.installed
	$(BIN)/python benchmarks/bench_engine.py

clean:
	rm -rf $(VENV) build *.egg-info
