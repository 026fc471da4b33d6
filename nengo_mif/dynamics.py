"""Event-exact membrane dynamics shared by every backend.

Both memristive neurons are piecewise-linear circuits: between switching events each
memristor is either on or off, so the normalised membrane voltage obeys

    tau dv/dt = a - g v,        v(t) = v_inf + (v0 - v_inf) exp(-g t / tau)

with constant conductance ``g`` and drive ``a`` (``v_inf = a / g``). The code below
finds the next event (threshold crossing or memristor relaxation) in closed form,
jumps to it, switches, and repeats; a fixed, small number of phases per call keeps
it vectorisable. Because the dynamics under constant input are periodic after a
spike, whole inter-spike intervals inside one time step are counted with a floor
instead of being stepped through, so a step costs the same at any rate and any dt.

The functions take an ``ops`` namespace (`NUMPY_OPS` or the TensorFlow one in
`nengo_mif.tf_ops`) so nengo core and NengoDL run literally the same logic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Stand-in for "no event ahead" in finite arithmetic (seconds); keeps gradients finite.
NEVER = 1e9


class NumpyOps:
    """The array operations the dynamics need, for numpy arrays."""

    where = staticmethod(np.where)
    exp = staticmethod(np.exp)
    log1p = staticmethod(np.log1p)
    floor = staticmethod(np.floor)
    minimum = staticmethod(np.minimum)
    maximum = staticmethod(np.maximum)
    logical_and = staticmethod(np.logical_and)
    logical_or = staticmethod(np.logical_or)
    logical_not = staticmethod(np.logical_not)

    @staticmethod
    def full_like(x, value):
        return np.full(np.shape(x), value, dtype=np.result_type(x, np.float32))

    @staticmethod
    def count(periods, whole):
        """The number of whole inter-spike intervals, ``whole = floor(periods)``.

        A separate operation so that training through time can give the count (and
        only the count: the state's remaining time keeps the floor) a gradient
        (`nengo_mif.tf_ops.TFOps`).
        """
        return whole


NUMPY_OPS = NumpyOps()


@dataclass(frozen=True)
class Circuit:
    """Dimensionless constants of a neuron's circuit (scalars, arrays or tensors).

    Voltages are normalised so that rest is 0 and the firing threshold is 1;
    conductances are relative to the leak conductance ``1 / R_off``.
    """

    tau: Any  # R_off * C, seconds
    g1_on: Any  # R_off / R_on of the leak memristor M1
    v_hold: Any  # M1 switches back off when v falls to this
    v_min: Any  # voltage floor (documented clipping, as nengo.LIF's min_voltage)
    has_m2: bool = False
    g2_on: Any = 0.0  # R_off / R2_on of the reset memristor M2
    g2_off: Any = 0.0  # R_off / R2_off
    e_reset: Any = 0.0  # normalised E_reset (< 0)
    t_m2: Any = 0.0  # how long M2 stays on after a spike, seconds

    @property
    def n_phases(self) -> int:
        # Longest event chain before a spike: M1 off, M2 off, fire.
        return 3 if self.has_m2 else 2

    def rheobase(self) -> Any:
        """Smallest constant input that makes the neuron fire repeatedly.

        Returns
        -------
        j_rh : float or array
        """
        return 1.0 + self.g2_off * (1.0 - self.e_reset) if self.has_m2 else 1.0


@dataclass(frozen=True)
class Dynamics:
    """Which step and rate functions a neuron type runs: declared once on its class.

    nengo core, the NengoDL builder and the Keras engine all call these, so every
    backend runs the same maths for the type.
    """

    step: Callable  # (circuit, dt, J, *state, ops) -> (n_spikes, *state)
    rate: Callable  # (circuit, J, ops) -> Hz


def _time_to_reach(ops, v, v_inf, target, rising, g, tau):
    """Time for ``v -> v_inf`` (rate ``g / tau``) to cross ``target``; NEVER if it won't.

    ``rising`` says which way the crossing counts; a voltage already past the target
    crosses at once.
    """
    gap = ops.where(rising, target - v, v - target)  # > 0: not reached yet
    ahead = ops.where(rising, v_inf - target, target - v_inf)  # > 0: asymptote beyond
    reaches = ahead > 0
    t = (tau / g) * ops.log1p(ops.maximum(gap, 0.0) / ops.where(reaches, ahead, 1.0))
    return ops.where(gap <= 0, 0.0, ops.where(reaches, t, NEVER))


def advance(c: Circuit, J, v, x1, x2, m2, duration, ops=NUMPY_OPS):
    """Evolve the state for ``duration`` seconds, stopping at the first spike.

    Returns ``(v, x1, x2, m2, elapsed, spiked)``: the state when the time is up or
    at the instant of the first spike (threshold reached, both memristors switched
    on), the time that took, and whether it spiked.
    """
    return _advance(c, J, v, x1, x2, m2, duration, ops)[:6]


def _advance(c: Circuit, J, v, x1, x2, m2, duration, ops):
    """`advance`, also returning each phase as ``(t0, v0, v_inf, g, x1, x2, m2_0)``.

    A phase starts at ``t0`` (seconds into the call) in state ``v0, x1, x2, m2_0``
    and relaxes towards ``v_inf`` at rate ``g / tau`` until the next event.
    """
    remaining = ops.full_like(J, 1.0) * duration
    elapsed = ops.full_like(J, 0.0)
    spiked = ops.full_like(J, 0.0) > 0.5
    phases = []
    for _ in range(c.n_phases):
        on1 = x1 > 0.5
        g = ops.where(on1, c.g1_on, 1.0)
        a = J
        if c.has_m2:
            on2 = x2 > 0.5
            g2 = ops.where(on2, c.g2_on, c.g2_off)
            g = g + g2
            a = J + g2 * c.e_reset
        v_inf = a / g
        phases.append((elapsed, v, v_inf, g, x1, x2, m2))

        target = ops.where(on1, c.v_hold, 1.0)
        t_v = _time_to_reach(ops, v, v_inf, target, ops.logical_not(on1), g, c.tau)
        t_m = ops.where(on2, m2, NEVER) if c.has_m2 else NEVER
        t_event = ops.minimum(t_v, t_m)
        h = ops.minimum(t_event, remaining)

        v = v_inf + (v - v_inf) * ops.exp(-h * g / c.tau)
        event = ops.logical_and(t_event <= remaining, ops.logical_not(spiked))
        remaining = remaining - h
        elapsed = elapsed + h

        v_event = ops.logical_and(event, t_v <= t_m)
        fire = ops.logical_and(v_event, ops.logical_not(on1))
        m1_off = ops.logical_and(v_event, on1)
        # snap to the exact switching voltage so rounding never re-triggers an event
        v = ops.where(fire, 1.0, ops.where(m1_off, c.v_hold, v))
        x1 = ops.where(fire, 1.0, ops.where(m1_off, 0.0, x1))
        if c.has_m2:
            m2_off = ops.logical_and(event, t_m < t_v)
            m2 = ops.where(fire, c.t_m2, ops.where(m2_off, 0.0, ops.maximum(m2 - h, 0.0)))
            x2 = ops.where(fire, 1.0, ops.where(m2_off, 0.0, x2))
        spiked = ops.logical_or(spiked, fire)
        remaining = ops.where(fire, 0.0, remaining)
    return v, x1, x2, m2, elapsed, spiked, phases


def spike_state(c: Circuit, J, ops=NUMPY_OPS):
    """State at the instant of a spike: threshold, both memristors just switched on.

    Returns
    -------
    state : State
    """
    one = ops.full_like(J, 1.0)
    m2 = one * c.t_m2 if c.has_m2 else one * 0.0
    return one, one, one if c.has_m2 else one * 0.0, m2


def period(c: Circuit, J, ops=NUMPY_OPS):
    """Inter-spike interval under constant input ``J`` (NEVER where it does not fire).

    Returns
    -------
    period : array
        Seconds between spikes.
    """
    elapsed, spiked, _ = _cycle(c, J, ops)
    return ops.where(spiked, elapsed, NEVER)


def rate(c: Circuit, J, ops=NUMPY_OPS):
    """Steady firing rate (Hz) under constant input ``J``.

    Returns
    -------
    rate : array
    """
    isi = period(c, J, ops)
    fires = isi < NEVER
    return ops.where(fires, 1.0 / ops.where(fires, isi, 1.0), 0.0)


def step(c: Circuit, dt, J, v, x1, x2, m2, ops=NUMPY_OPS):
    """Advance one time step of length ``dt`` under input ``J`` held constant.

    Returns ``(n_spikes, v, x1, x2, m2)``; ``n_spikes`` counts every spike in the
    step (several per step are possible at high rates or large ``dt``).
    """
    v, x1, x2, m2, elapsed, spiked = advance(c, J, v, x1, x2, m2, dt, ops=ops)
    left = dt - elapsed  # time after the first spike
    isi = period(c, J, ops)
    periods = ops.where(spiked, left / isi, 0.0)
    n_more = ops.floor(periods)
    t_rest = ops.maximum(left - n_more * isi, 0.0)
    v0, x10, x20, m20 = spike_state(c, J, ops)
    v2, x12, x22, m22, _, again = advance(c, J, v0, x10, x20, m20, t_rest, ops=ops)
    # `again` only when rounding put the step's end on the next spike
    n_more = ops.count(periods, n_more)
    n_spikes = ops.where(spiked, 1.0 + n_more + ops.where(again, 1.0, 0.0), 0.0)
    v = ops.maximum(ops.where(spiked, v2, v), c.v_min)
    x1 = ops.where(spiked, x12, x1)
    if c.has_m2:
        x2 = ops.where(spiked, x22, x2)
        m2 = ops.where(spiked, m22, m2)
    return n_spikes, v, x1, x2, m2


def cycle_step(c: Circuit, dt, J, v, x1, x2, m2, ops=NUMPY_OPS):
    """`step` with one event loop fewer: the same result, ~1.4x fewer operations.

    After a spike the neuron always starts from the same state, so one event loop
    from that state gives both the period and the table of its phases. The state at
    the end of the step is then read off that table (select the phase the remaining
    time falls in, one exponential) instead of being stepped through a third loop.
    Used for MIF2; checked against `step` in the tests.

    Returns
    -------
    n_spikes, v, x1, x2, m2 : arrays
        As `step`.
    """
    v, x1, x2, m2, elapsed, spiked = advance(c, J, v, x1, x2, m2, dt, ops=ops)
    isi, fires, phases = _cycle(c, J, ops)
    isi = ops.where(fires, isi, NEVER)
    left = dt - elapsed  # time after the first spike
    periods = ops.where(spiked, left / isi, 0.0)
    n_more = ops.floor(periods)
    t_rest = ops.maximum(left - n_more * isi, 0.0)
    # rounding can put the step's end on the next spike: count it, restart the cycle
    again = ops.logical_and(spiked, t_rest >= isi)
    t_rest = ops.where(again, 0.0, t_rest)
    t0, v0, v_inf, g, px1, px2, pm2 = phases[0]
    for phase in phases[1:]:
        later = phase[0] <= t_rest
        # a phase of zero length (after the spike) starts at isi and is never chosen
        t0, v0, v_inf, g, px1, px2, pm2 = (
            ops.where(later, new, old) for new, old in zip(phase, (t0, v0, v_inf, g, px1, px2, pm2))
        )
    s = t_rest - t0
    v_end = v_inf + (v0 - v_inf) * ops.exp(-s * g / c.tau)
    n_more = ops.count(periods, n_more)
    n_spikes = ops.where(spiked, 1.0 + n_more + ops.where(again, 1.0, 0.0), 0.0)
    v = ops.maximum(ops.where(spiked, v_end, v), c.v_min)
    x1 = ops.where(spiked, px1, x1)
    if c.has_m2:
        x2 = ops.where(spiked, px2, x2)
        m2 = ops.where(spiked, ops.where(px2 > 0.5, ops.maximum(pm2 - s, 0.0), 0.0), m2)
    return n_spikes, v, x1, x2, m2


def _cycle(c: Circuit, J, ops):
    """One period from the spike state: ``(isi, fires, phases)`` (see `_advance`)."""
    *_, elapsed, spiked, phases = _advance(c, J, *spike_state(c, J, ops), NEVER, ops)
    return elapsed, spiked, phases


def mif_step(c: Circuit, dt, J, v, x1, ops=NUMPY_OPS):
    """`step` for MIF (no M2) in closed form: the same result with ~4x fewer operations.

    With only M1 the cycle has two phases whose durations are logarithms, so the
    first spike time, the number of further whole periods and the phase reached at
    the end of the step follow directly, with no event loop.

    Returns
    -------
    n_spikes, v, x1, x2, m2 : arrays
        As `step`.
    """
    on = x1 > 0.5
    j_off = J - 1.0  # how far the off-state asymptote lies beyond threshold
    fires = j_off > 0
    inv_off = 1.0 / ops.where(fires, j_off, 1.0)
    a_on = J / c.g1_on  # on-state asymptote
    hold = c.v_hold - a_on  # how far it lies below v_hold
    unlatched = hold > 0
    inv_on = 1.0 / ops.where(unlatched, hold, 1.0)
    tau_on = c.tau / c.g1_on
    t_on_full = tau_on * ops.log1p((1.0 - c.v_hold) * inv_on)  # threshold -> v_hold
    t_off_full = c.tau * ops.log1p((1.0 - c.v_hold) * inv_off)  # v_hold -> threshold
    t_on_v = ops.where(
        unlatched, tau_on * ops.log1p(ops.maximum(v - c.v_hold, 0.0) * inv_on), NEVER
    )
    t_off_v = c.tau * ops.log1p(ops.maximum(1.0 - v, 0.0) * inv_off)
    t_first = ops.where(on, t_on_v + t_off_full, t_off_v)
    t_first = ops.where(
        ops.logical_and(fires, ops.logical_or(unlatched, ops.logical_not(on))), t_first, NEVER
    )
    spiked = t_first <= dt
    period = ops.where(unlatched, t_on_full + t_off_full, NEVER)
    left = ops.where(spiked, dt - t_first, 0.0)
    periods = left / period
    n_more = ops.floor(periods)
    # the final phase starts at the last spike (or at the step's start)
    start_on = ops.logical_or(spiked, on)
    s = ops.where(spiked, left - n_more * period, dt)
    t_on_start = ops.where(spiked, ops.where(unlatched, t_on_full, NEVER), t_on_v)
    still_on = ops.logical_and(start_on, s < t_on_start)
    v_start = ops.where(spiked, 1.0, v)
    v_from = ops.where(still_on, v_start, ops.where(start_on, c.v_hold, v_start))
    target = ops.where(still_on, a_on, J)
    decay = ops.where(
        still_on, -s / tau_on, -ops.where(start_on, ops.maximum(s - t_on_start, 0.0), s) / c.tau
    )
    v = ops.maximum(target + (v_from - target) * ops.exp(decay), c.v_min)
    n_spikes = ops.where(spiked, 1.0 + ops.count(periods, n_more), 0.0)
    return n_spikes, v, ops.where(still_on, 1.0, 0.0)


def mif_rate(c: Circuit, J, ops=NUMPY_OPS):
    """`rate` for MIF in closed form: ``1 / (t_on + t_off)``.

    Returns
    -------
    rate : array
    """
    j_off = J - 1.0
    hold = c.v_hold - J / c.g1_on
    fires = ops.logical_and(j_off > 0, hold > 0)
    t_on = (c.tau / c.g1_on) * ops.log1p((1.0 - c.v_hold) / ops.where(fires, hold, 1.0))
    t_off = c.tau * ops.log1p((1.0 - c.v_hold) / ops.where(fires, j_off, 1.0))
    return ops.where(fires, 1.0 / (t_on + t_off), 0.0)


#: MIF: the closed forms (no M2)
MIF_DYNAMICS = Dynamics(step=mif_step, rate=mif_rate)
#: MIF2: the event loop over one cycle
MIF2_DYNAMICS = Dynamics(step=cycle_step, rate=rate)
