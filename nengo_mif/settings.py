"""Settings declared once: their defaults, help and allowed values, checked by one routine.

A dataclass field is declared with `setting`: its default, its help, and the values
it allows (`Allowed`: bounds, whole numbers, choices), as nengo's
``NumberParam(low=..., low_open=...)``. `validate` checks every field of a config
from those declarations; the command line (`nengo_mif.cli`) is generated from the
same metadata and prints the bounds in ``--help``. Used by every config of the
package (`nengo_mif.networks.config`, `nengo_mif.deploy.config`). Imports nothing
heavy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field, fields, replace
from typing import Any

from nengo_mif.exceptions import ConfigError

__all__ = ["Allowed", "check_argument", "int_tuple", "option", "setting", "validate"]


def int_tuple(text: str) -> tuple[int, ...]:
    """Parse ``"16,16,8"`` into ``(16, 16, 8)`` (the command line's tuple settings).

    Returns
    -------
    values : tuple of int
    """
    return tuple(int(v) for v in text.split(","))


def option(name: str) -> str:
    """The command-line spelling of setting ``name``: ``n_steps`` -> ``--n-steps``.

    Returns
    -------
    option : str
    """
    return "--" + name.replace("_", "-")


@dataclass(frozen=True)
class Allowed:
    """The values a setting allows: a `setting`'s ``metadata["allowed"]``.

    Attributes
    ----------
    low, low_open, high : float, bool, float
        Bounds: ``value >= low`` (``> low`` if ``low_open``), ``value <= high``.
    integer : bool
        Whole numbers only.
    number : bool
        A finite number (implied by ``integer`` and by bounds).
    choices : tuple, optional
        The allowed values.
    optional : bool
        ``None`` is allowed.
    zero_is_none : bool
        ``0`` is stored as ``None`` (a synapse of 0 s: no filtering).
    items : str, optional
        A non-empty sequence of such numbers (stored as a tuple); the messages call
        its elements ``items`` (``"sides"``).
    by_layer : bool
        A dict of such numbers by layer name is allowed too.
    check : callable, optional
        Called with every value but ``None``; raises where it is not allowed (for
        choices known only at run time: the registered neuron types).
    """

    low: float | None = None
    low_open: bool = False
    high: float | None = None
    integer: bool = False
    number: bool = False
    choices: tuple[Hashable, ...] | None = None
    optional: bool = False
    zero_is_none: bool = False
    items: str | None = None
    by_layer: bool = False
    check: Callable[[Any], object] | None = None

    def rule(self) -> str:
        """The bounds in words (``"integer >= 1"``; empty where there are none).

        Returns
        -------
        rule : str
        """
        bounds = [f"{'>' if self.low_open else '>='} {self.low:g}"] if self.low is not None else []
        bounds += [f"<= {self.high:g}"] if self.high is not None else []
        text = ", ".join(bounds)
        if self.integer:
            text = f"integer{'s' if self.items else ''} {text}".strip()
        if self.items:
            text += ", comma-separated"
        return f"0 or {text}" if self.zero_is_none else text

    def coerce(self, name: str, value: Any) -> Any:
        """``value`` checked against this declaration, normalised (``0`` to ``None``
        where ``zero_is_none``, a list to a tuple).

        Returns
        -------
        value

        Raises
        ------
        ConfigError
            Naming setting ``name`` as the command line spells it, and what it allows.
        """
        if self.zero_is_none and _is_number(value) and value == 0:
            value = None
        if value is None:
            if self.optional:
                return None
            raise ConfigError(f"{name} is required; give {option(name)}")
        if self.check is not None:
            self.check(value)
        if self.choices is not None and value not in self.choices:
            raise ConfigError(
                f"{name} must be one of {', '.join(map(str, self.choices))}; "
                f"got {value!r} ({option(name)})"
            )
        if self.items:
            value = tuple(value) if isinstance(value, list | tuple) else value
            if not isinstance(value, tuple) or not value or not all(map(self._fits, value)):
                kind = "whole" if self.integer else "finite"
                bounds = replace(self, integer=False, items=None, zero_is_none=False).rule()
                raise ConfigError(
                    f"{name} {self.items} must be {kind} numbers {bounds}; "
                    f"got {value!r} ({option(name)})"
                )
        elif self.by_layer and isinstance(value, dict):
            for layer, v in value.items():
                self._check_number(f"{name}[{layer!r}]", v, "")
        elif self.number:
            self._check_number(name, value, f" ({option(name)})")
        return value

    def _fits(self, value: Any) -> bool:
        try:
            self._check_number("", value, "")
        except ConfigError:
            return False
        return True

    def _check_number(self, name: str, value: Any, where: str) -> None:
        if self.integer and not (isinstance(value, int) and _is_number(value)):
            raise ConfigError(f"{name} must be a whole number; got {value!r}{where}")
        if not _is_number(value) or not math.isfinite(value):
            raise ConfigError(f"{name} must be a finite number; got {value!r}{where}")
        low = self.low
        if low is not None and (value <= low if self.low_open else value < low):
            sign = ">" if self.low_open else ">="
            raise ConfigError(f"{name} must be {sign} {low:g}; got {value!r}{where}")
        if self.high is not None and value > self.high:
            raise ConfigError(f"{name} must be <= {self.high:g}; got {value!r}{where}")


def check_argument(owner: str, name: str, value: Any, **allowed: Any) -> Any:
    """A layer's or function's argument checked as a setting is (`Allowed` bounds).

    Returns
    -------
    value
        ``value``, unchanged.

    Raises
    ------
    ConfigError
        ``"Lowpass tau must be > 0; got -0.01"``.
    """
    Allowed(number=True, **allowed)._check_number(f"{owner} {name}", value, "")
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def setting(
    default: Any,
    help: str,
    *,
    default_help: str | None = None,
    parse: Callable[[str], Any] | None = None,
    **allowed: Any,
) -> Any:
    """A dataclass field declaring its default, help and `Allowed` values, for `validate`.

    Parameters
    ----------
    default
        The default value.
    help : str
        The command line's help text.
    default_help : str, optional
        What the default means, where its value does not say (``None``: "the run's
        stored setting"); ``--help`` shows it in place of the value.
    parse : callable, optional
        Turns the command line's text into a value (default: ``int``, `int_tuple`
        for ``items``, ``float`` for other numbers, ``str``; booleans are flags).
    **allowed
        `Allowed`'s attributes; ``optional`` defaults to whether ``default`` is
        ``None`` (or ``zero_is_none``), ``number`` to whether bounds are given or
        the default is a number.

    Returns
    -------
    field : dataclasses.Field
    """
    flag = isinstance(default, bool)
    allowed.setdefault("optional", default is None or allowed.get("zero_is_none", False))
    allowed.setdefault(
        "number",
        not flag
        and (
            allowed.get("integer", False)
            or allowed.get("low") is not None
            or allowed.get("high") is not None
            or _is_number(default)
        ),
    )
    allowed = Allowed(**allowed)
    if parse is None and not flag:
        integer = int_tuple if allowed.items else int
        parse = integer if allowed.integer else float if allowed.number else str
    metadata = dict(help=help, default_help=default_help, parse=parse, allowed=allowed)
    return field(default=default, metadata=metadata)


def validate(config: Any, *checks: Callable[[Any], None]) -> None:
    """Check and normalise every field of dataclass ``config`` by its `setting`
    declaration (`Allowed.coerce`), then run ``checks``, those relating two settings.

    Raises
    ------
    ConfigError
        Naming the first setting at fault and what it allows.
    """
    for f in fields(config):
        if "allowed" in f.metadata:
            setattr(config, f.name, f.metadata["allowed"].coerce(f.name, getattr(config, f.name)))
    for check in checks:
        check(config)
