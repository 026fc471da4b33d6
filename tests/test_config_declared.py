"""Every setting is checked from its declaration: out-of-range values fail by name.

The cases are generated from the fields' metadata (`nengo_mif.networks.config.setting`),
so a new setting is covered as soon as it is declared. Fast: nothing is trained.
"""

import math
from dataclasses import fields

import pytest
from nengo_mif.deploy.config import DeployConfig
from nengo_mif.networks.config import RUN_SETTINGS, EvalConfig, TrainConfig

from nengo_mif.cli import main
from nengo_mif.defaults import default
from nengo_mif.exceptions import ConfigError, NengoMifError
from nengo_mif.settings import option

CONFIGS = (TrainConfig, EvalConfig, DeployConfig)


def bad_values(allowed) -> list:
    """Values just outside what ``allowed`` declares, as a scalar would be given."""
    bad = [math.nan, math.inf]
    if allowed.low is not None:
        # a zero_is_none setting takes 0 as "none": only below it is out of range
        at_low = allowed.low_open and not allowed.zero_is_none
        bad.append(allowed.low if at_low else allowed.low - 1)
    if allowed.high is not None:
        bad.append(allowed.high * 2 + 1)
    if allowed.integer:
        bad.append((allowed.low or 0) + 1.5)
    return bad


def cases():
    for cls in CONFIGS:
        for f in fields(cls):
            allowed = f.metadata["allowed"]
            if allowed.number:
                for value in bad_values(allowed):
                    if allowed.items:
                        value = (value,)  # one bad element in a sequence setting
                    yield pytest.param(cls, f.name, value, id=f"{cls.__name__}.{f.name}={value}")
                if allowed.by_layer:
                    value = {"conv0": bad_values(allowed)[-1]}
                    yield pytest.param(cls, f.name, value, id=f"{cls.__name__}.{f.name}=dict")
            if allowed.choices is not None:
                yield pytest.param(cls, f.name, "no-such", id=f"{cls.__name__}.{f.name}=no-such")
            if not allowed.optional:
                yield pytest.param(cls, f.name, None, id=f"{cls.__name__}.{f.name}=None")


def test_every_field_is_declared():
    for cls in CONFIGS:
        for f in fields(cls):
            assert "allowed" in f.metadata, f"{cls.__name__}.{f.name} is not declared by setting()"
            assert f.metadata["help"], f"{cls.__name__}.{f.name} has no help"


@pytest.mark.parametrize("cls,name,value", list(cases()))
def test_out_of_range_values_fail_by_name(cls, name, value):
    with pytest.raises(ConfigError) as e:
        cls(**{name: value})
    message = str(e.value)
    assert isinstance(e.value, NengoMifError) and isinstance(e.value, ValueError)
    assert name in message and "\n" not in message
    if not isinstance(value, dict):
        assert option(name) in message  # as the command line spells it


#: what else must change for a setting at its bound to pass the cross-field checks
COMPANIONS = {"epochs": dict(spike_aware_epochs=1), "max_train": dict(batch_size=1)}


def test_bounds_themselves_are_allowed():
    # the edge of a closed bound is inside: the checks are not off by one
    for cls in CONFIGS:
        for f in fields(cls):
            allowed = f.metadata["allowed"]
            if allowed.low is None or allowed.low_open:
                continue
            value = int(allowed.low) if allowed.integer else float(allowed.low)
            value = (value,) if allowed.items else value
            config = cls(**{f.name: value}, **COMPANIONS.get(f.name, {}))
            assert getattr(config, f.name) == value


def test_defaults_come_from_one_place():
    for cls in CONFIGS:
        config = cls()
        for name in ("n_steps", "batch_size", "dt", "seed", "max_rate", "engine"):
            if hasattr(config, name):
                value = getattr(config, name)
                if value is None:  # a run's stored setting, else the default
                    value = RUN_SETTINGS[name]
                assert value == getattr(default, name), (cls, name)
    assert TrainConfig().synapse == default.synapse
    with pytest.raises(AttributeError):
        default.dt = 0.002  # frozen: a default is changed in nengo_mif/defaults.py only


def test_train_help_shows_bounds(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # one line per option
    with pytest.raises(SystemExit) as e:
        main(["train", "--help"])
    assert e.value.code == 0
    out = " ".join(capsys.readouterr().out.split())  # long options put help on the next line
    assert "--n-steps N_STEPS time steps per image (integer >= 1; default: 30)" in out
    for f in fields(TrainConfig):
        rule = f.metadata["allowed"].rule()
        if rule:
            entry = f"{option(f.name)} {f.name.upper()} {f.metadata['help']} ({rule}; default:"
            assert entry in out
