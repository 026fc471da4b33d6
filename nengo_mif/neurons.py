"""Memristive integrate-and-fire neuron types for Nengo.

Both types are circuits of a membrane capacitor ``C``, an input current ``I`` and
threshold-switching (volatile) memristors. A memristor's conductance is

    G(x) = x / R_on + (1 - x) / R_off,     x in {0, 1}

where the state ``x`` switches on when the voltage across the device reaches its
set threshold and off when it falls to its hold threshold. Switching takes
nanoseconds, far below every circuit time constant, so it is modelled as
instantaneous, and the circuit is linear between switching events: the simulation
solves it exactly from event to event (`nengo_mif.dynamics`), which is stable and
accurate at any ``dt`` even though ``R_on C`` is well below a microsecond.

Input is dimensionless, as for `nengo.LIF`: ``J = I R_off / (V_on - E_rest)``, so
``J = 1`` is the current that just reaches threshold. The ``voltage`` state is
normalised the same way, ``v = (V - E_rest) / (V_on - E_rest)``: rest is 0 and the
firing threshold is 1.
"""

from __future__ import annotations

import numpy as np
from nengo.dists import Choice, Uniform
from nengo.exceptions import SimulationError, ValidationError
from nengo.neurons import LIF, NeuronType
from nengo.params import NumberParam

from nengo_mif import dynamics

__all__ = ["LIF", "MIF", "MIF2", "circuit_lif"]


class FiniteParam(NumberParam):
    """A `NumberParam` that names the parameter when given NaN or inf (``-inf`` allowed
    only where ``allow_neg_inf``), instead of failing inside nengo's comparisons."""

    def __init__(self, name, allow_neg_inf=False, **kwargs):
        super().__init__(name, **kwargs)
        self.allow_neg_inf = allow_neg_inf

    def coerce(self, instance, value):
        if (
            isinstance(value, (int, float, np.number))
            and not np.isfinite(value)
            and not (self.allow_neg_inf and value == -np.inf)
        ):
            raise ValidationError(
                f"must be a finite number; got {value}", attr=self.name, obj=instance
            )
        return super().coerce(instance, value)


class _Memristive(NeuronType):
    """Shared machinery of the memristive neurons (parameters of M1 and C)."""

    negative = False
    spiking = True

    r_on = FiniteParam("r_on", low=0, low_open=True)
    r_off = FiniteParam("r_off", low=0, low_open=True)
    capacitance = FiniteParam("capacitance", low=0, low_open=True)
    e_rest = FiniteParam("e_rest")
    v_on = FiniteParam("v_on")
    v_off = FiniteParam("v_off")
    min_voltage = FiniteParam("min_voltage", allow_neg_inf=True, optional=True)
    amplitude = FiniteParam("amplitude", low=0, low_open=True)

    def __init__(
        self,
        *,
        r_on,
        r_off,
        capacitance,
        e_rest,
        v_on,
        v_off,
        min_voltage,
        amplitude,
        initial_state,
    ):
        super().__init__(initial_state)
        self.r_on = r_on
        self.r_off = r_off
        self.capacitance = capacitance
        self.e_rest = e_rest
        self.v_on = v_on
        self.v_off = v_off
        self.min_voltage = min_voltage
        self.amplitude = amplitude
        if not r_on < r_off:
            raise ValidationError(
                f"must be smaller than r_off ({r_off} ohm) for the memristor to "
                f"switch the leak; got r_on={r_on} ohm",
                attr="r_on",
                obj=self,
            )
        if not e_rest < v_off < v_on:
            raise ValidationError(
                "thresholds must satisfy e_rest < v_off < v_on (the memristor turns "
                f"on at v_on and off at v_off); got e_rest={e_rest} V, "
                f"v_off={v_off} V, v_on={v_on} V",
                attr="v_off",
                obj=self,
            )

    def _check_min_voltage(self):
        if not self.v_min < self.v_hold:
            raise ValidationError(
                f"must lie below the normalised hold voltage v_hold = {self.v_hold:g}, or "
                f"the simulated rate no longer follows rates(); got {self.v_min:g}",
                attr="min_voltage",
                obj=self,
            )

    # ---- derived, dimensionless constants (also read by the NengoDL builder) ----
    @property
    def tau_rc(self) -> float:
        """Membrane time constant with the memristor off, ``R_off C`` (s)."""
        return self.r_off * self.capacitance

    @property
    def g1_on(self) -> float:
        return self.r_off / self.r_on

    @property
    def v_hold(self) -> float:
        return (self.v_off - self.e_rest) / (self.v_on - self.e_rest)

    @property
    def v_min(self) -> float:
        return self._default_min_voltage if self.min_voltage is None else self.min_voltage

    _default_min_voltage = 0.0

    #: which functions of `nengo_mif.dynamics` the type runs (every backend reads it)
    dynamics: dynamics.Dynamics
    #: `dynamics.Circuit` field -> the attribute of this class that gives it
    circuit_params = {"tau": "tau_rc", "g1_on": "g1_on", "v_hold": "v_hold", "v_min": "v_min"}
    has_m2 = False

    def circuit(self) -> dynamics.Circuit:
        """The circuit these parameters describe (`dynamics.Circuit`).

        Returns
        -------
        circuit : dynamics.Circuit
        """
        return dynamics.Circuit(
            has_m2=self.has_m2,
            **{key: getattr(self, attr) for key, attr in self.circuit_params.items()},
        )

    def rate_of(self, J):
        """Steady firing rate (Hz, without the amplitude) under constant input ``J``."""
        return self.dynamics.rate(self.circuit(), J)

    def rheobase(self) -> float:
        """The input ``J`` above which the neuron fires repeatedly."""
        return float(self.circuit().rheobase())

    def to_volts(self, voltage):
        """Convert the normalised ``voltage`` state to volts."""
        return self.e_rest + np.asarray(voltage) * (self.v_on - self.e_rest)

    # ---- nengo.NeuronType interface ----
    def rates(self, x, gain, bias):
        J = self.current(x, gain, bias)
        return self.amplitude * self.rate_of(J)

    def gain_bias(self, max_rates, intercepts):
        """Invert the (monotonic) rate curve by bisection."""
        max_rates = np.array(max_rates, dtype=float, copy=False, ndmin=1)
        intercepts = np.array(intercepts, dtype=float, copy=False, ndmin=1)
        j_th = self.rheobase()
        lo_rate, hi_rate = self.rate_of(np.array([self._j_low(), self._j_peak()]))
        if not np.all((max_rates > lo_rate) & (max_rates < hi_rate)):
            raise ValidationError(
                f"max_rates must lie in ({lo_rate:.4g}, {hi_rate:.4g}) Hz for this neuron "
                f"(got {max_rates[~((max_rates > lo_rate) & (max_rates < hi_rate))][:3]}): "
                "slower rates need an input closer to the rheobase than float64 resolves, "
                "faster ones latch the leak memristor on",
                attr="max_rates",
                obj=self,
            )
        if not np.all(np.isfinite(intercepts) & (intercepts < 1)):
            raise ValidationError(
                f"intercepts must be finite and below 1; got "
                f"{intercepts[~(np.isfinite(intercepts) & (intercepts < 1))][:3]}",
                attr="intercepts",
                obj=self,
            )
        j_max = self._invert_rate(max_rates)
        gain = (j_th - j_max) / (intercepts - 1.0)
        bias = j_max - gain
        return gain, bias

    def max_rates_intercepts(self, gain, bias):
        gain = np.asarray(gain, dtype=float)
        bias = np.asarray(bias, dtype=float)
        intercepts = (self.rheobase() - bias) / gain
        max_rates = self.rate_of(gain + bias)
        return max_rates, intercepts

    def _j_peak(self) -> float:
        # Input where the on-state asymptote reaches v_hold: beyond it M1 latches on.
        return float(0.999 * self.g1_on * self.v_hold)

    def _j_low(self) -> float:
        # the smallest input above the rheobase that float64 tells apart from it
        j_th = self.rheobase()
        return float(j_th + 1e-12 * max(1.0, abs(j_th)))

    def _invert_rate(self, target):
        lo = np.full_like(target, self._j_low())
        hi = np.full_like(target, self._j_peak())
        for _ in range(100):
            mid = 0.5 * (lo + hi)
            too_fast = self.rate_of(mid) > target
            hi = np.where(too_fast, mid, hi)
            lo = np.where(too_fast, lo, mid)
        return 0.5 * (lo + hi)

    def _check_input(self, J):
        if not np.all(np.isfinite(J)):
            raise SimulationError(
                f"{type(self).__name__} received a non-finite input current "
                f"(J contains {'NaN' if np.isnan(J).any() else 'inf'}); check the "
                "weights and inputs feeding this population"
            )


class MIF(_Memristive):
    """Memristive integrate-and-fire neuron (Kang et al., IEEE TCAS-I 68:4837, 2021).

    An LIF neuron whose leak resistor is a threshold-switching memristor M1::

        C dV/dt = I - (V - E_rest) G1(x1)

    M1 switches on (``x1 = 1``, resistance ``R_on``) when ``V`` reaches ``v_on``:
    that is the spike. Through ``R_on << R_off`` the capacitor then discharges in
    ``~R_on C`` until ``V`` falls to ``v_off``, where M1 switches off and the neuron
    charges again from ``v_off``, not from rest, so it fires faster than an LIF with
    the same ``tau_rc = R_off C``. In normalised units (``J``, ``v`` as in the module
    docstring, ``tau = R_off C``, ``g1 = R_off / R_on``)::

        off:  tau dv/dt = J - v             (charges towards J)
        on:   tau dv/dt = J - g1 v          (discharges towards J / g1)

    so with constant ``J > 1`` the inter-spike interval is::

        T = (tau / g1) ln((1 - J/g1) / (v_hold - J/g1)) + tau ln((J - v_hold) / (J - 1))

    with ``v_hold = (v_off - E_rest) / (v_on - E_rest)``. For ``J >= g1 v_hold`` the
    on-state cannot pull ``v`` below ``v_off``: M1 latches on and the neuron is silent
    (depolarisation block), far above any useful input with the defaults.

    Parameters are keyword-only.

    Parameters
    ----------
    r_on, r_off : float
        Memristor on/off resistance (ohm); ``r_on < r_off``.
    capacitance : float
        Membrane capacitance (F).
    e_rest : float
        Resting (leak reversal) potential (V).
    v_on, v_off : float
        Switching thresholds (V): on at ``v_on`` (firing threshold), off at ``v_off``;
        ``e_rest < v_off < v_on``.
    min_voltage : float or None
        Floor of the normalised voltage (as `nengo.LIF`'s ``min_voltage``); ``None``
        means rest (0). Use ``-np.inf`` for no clipping.
    amplitude : float
        Scale of the output (each spike has area ``amplitude``).
    initial_state : {str: Distribution or array_like}
        Overrides of the initial ``voltage`` (normalised) and ``memristor`` state.
    """

    state = {"voltage": Uniform(low=0, high=1), "memristor": Choice([0])}
    dynamics = dynamics.MIF_DYNAMICS

    def __init__(
        self,
        *,
        r_on=1e3,
        r_off=10e6,
        capacitance=0.2e-9,
        e_rest=0.0,
        v_on=1.0,
        v_off=0.5,
        min_voltage=None,
        amplitude=1.0,
        initial_state=None,
    ):
        super().__init__(
            r_on=r_on,
            r_off=r_off,
            capacitance=capacitance,
            e_rest=e_rest,
            v_on=v_on,
            v_off=v_off,
            min_voltage=min_voltage,
            amplitude=amplitude,
            initial_state=initial_state,
        )
        self._check_min_voltage()

    def step(self, dt, J, output, voltage, memristor):
        self._check_input(J)
        n, v, x1 = self.dynamics.step(self.circuit(), dt, J, voltage, memristor)
        output[...] = n * (self.amplitude / dt)
        voltage[...] = v
        memristor[...] = x1


class MIF2(_Memristive):
    """MIF with a reset memristor: a refractory neuron, after a reduced Hodgkin-Huxley circuit.

    A second threshold-switching memristor M2 in series with a reset source
    ``E_reset < E_rest`` is added in parallel to M1::

        C dV/dt = I - (V - E_rest) G1(x1) - (V - E_reset) G2(x2)

    M1 behaves as in `MIF`. M2 switches on with the spike (the voltage across it,
    ``v_on - E_reset``, is above its set threshold) and, being a volatile
    (diffusive) device, relaxes back off ``t_m2`` seconds later. While on, it pulls
    the membrane towards ``E_reset``, below rest: the neuron is hyperpolarised,
    recovers from below rest and fires more slowly than `MIF`, with a soft ceiling
    on its rate set by ``t_m2``. Normalised (``g2 = R_off / R2``, ``e = (E_reset -
    E_rest) / (v_on - E_rest)``)::

        tau dv/dt = J + g2(x2) e - (g1(x1) + g2(x2)) v

    and the rheobase is ``1 + g2_off (1 - e)``. The rate curve has no elementary
    closed form; `rates` evaluates the inter-spike interval phase by phase exactly.

    Parameters
    ----------
    r2_on, r2_off : float
        On/off resistance of M2 (ohm); ``r2_on < r2_off``.
    e_reset : float
        Reset source potential (V), below ``e_rest``.
    t_m2 : float
        Relaxation (retention) time of M2 after a spike (s).
    min_voltage : float or None
        Floor of the normalised voltage; ``None`` means the reset potential.

    The remaining parameters are those of `MIF`.
    """

    state = {
        "voltage": Uniform(low=0, high=1),
        "memristor1": Choice([0]),
        "memristor2": Choice([0]),
        "m2_time": Choice([0]),
    }
    dynamics = dynamics.MIF2_DYNAMICS
    circuit_params = dict(
        _Memristive.circuit_params,
        g2_on="g2_on",
        g2_off="g2_off",
        e_reset="e_reset_norm",
        t_m2="t_m2",
    )
    has_m2 = True

    r2_on = FiniteParam("r2_on", low=0, low_open=True)
    r2_off = FiniteParam("r2_off", low=0, low_open=True)
    e_reset = FiniteParam("e_reset")
    t_m2 = FiniteParam("t_m2", low=0, low_open=True)

    def __init__(
        self,
        *,
        r_on=1e3,
        r_off=10e6,
        capacitance=0.2e-9,
        e_rest=0.0,
        v_on=1.0,
        v_off=0.5,
        r2_on=1e6,
        r2_off=1e9,
        e_reset=-0.5,
        t_m2=2e-3,
        min_voltage=None,
        amplitude=1.0,
        initial_state=None,
    ):
        super().__init__(
            r_on=r_on,
            r_off=r_off,
            capacitance=capacitance,
            e_rest=e_rest,
            v_on=v_on,
            v_off=v_off,
            min_voltage=min_voltage,
            amplitude=amplitude,
            initial_state=initial_state,
        )
        self.r2_on = r2_on
        self.r2_off = r2_off
        self.e_reset = e_reset
        self.t_m2 = t_m2
        if not r2_on < r2_off:
            raise ValidationError(
                f"must be smaller than r2_off ({r2_off} ohm); got r2_on={r2_on} ohm",
                attr="r2_on",
                obj=self,
            )
        if not e_reset < e_rest:
            raise ValidationError(
                f"the reset source must lie below rest (e_rest={e_rest} V) to "
                f"hyperpolarise the membrane; got e_reset={e_reset} V",
                attr="e_reset",
                obj=self,
            )
        self._check_min_voltage()

    @property
    def g2_on(self) -> float:
        return self.r_off / self.r2_on

    @property
    def g2_off(self) -> float:
        return self.r_off / self.r2_off

    @property
    def e_reset_norm(self) -> float:
        return (self.e_reset - self.e_rest) / (self.v_on - self.e_rest)

    @property
    def _default_min_voltage(self) -> float:
        return self.e_reset_norm

    def _j_peak(self) -> float:
        # with M2 on too, the on-state asymptote is (J + g2 e) / (g1 + g2)
        g = self.g1_on + self.g2_on
        return float(0.999 * (g * self.v_hold - self.g2_on * self.e_reset_norm))

    def step(self, dt, J, output, voltage, memristor1, memristor2, m2_time):
        self._check_input(J)
        n, v, x1, x2, m2 = self.dynamics.step(
            self.circuit(), dt, J, voltage, memristor1, memristor2, m2_time
        )
        output[...] = n * (self.amplitude / dt)
        voltage[...] = v
        memristor1[...] = x1
        memristor2[...] = x2
        m2_time[...] = m2


def circuit_lif(neuron: _Memristive, tau_ref: float = 0.0, **kwargs) -> LIF:
    """The LIF baseline with the same membrane as ``neuron``: ``tau_rc = R_off C``.

    Its leak is the memristor's off resistance, and it resets to rest after a spike.

    Returns
    -------
    lif : nengo.LIF
    """
    return LIF(tau_rc=neuron.tau_rc, tau_ref=tau_ref, amplitude=neuron.amplitude, **kwargs)
