"""A spiking layer's loop over time, and its backward pass as a loop of its own.

Forward, `run_over_time` applies one XLA-compiled step per time step (`SpikingCell.steps`)
in a ``tf.while_loop``. For training, the whole loop is one custom-gradient
operation: the forward keeps only each step's incoming state (the neurons' and the
synapse's), and the backward walks the steps in reverse, recomputing each step
from that state and taking its vector-Jacobian product in one more XLA
computation. That is backpropagation through time with recomputation built in:
memory holds ``n_steps`` copies of the state, not of every intermediate of the
event-exact step, and each backward step is one fused pass. The same loop serves
both ways of training through time; only the step it differentiates differs.
"""

from __future__ import annotations

from nengo_mif._quiet import import_tensorflow

tf = import_tensorflow()


def _time_major(x):
    return tf.experimental.numpy.moveaxis(x, 1, 0)


def _forward(step, xs, params, state, keep: bool):
    """``(outputs, finite, kept states)`` of ``step`` over time-major inputs ``xs``."""
    n_steps = tf.shape(xs)[0]
    outputs = tf.TensorArray(xs.dtype, size=n_steps)
    kept = [tf.TensorArray(v.dtype, size=n_steps) for v in state] if keep else []
    finite = tf.ones(tf.shape(xs)[1:2], tf.bool)

    def body(t, state, finite, outputs, kept):
        if keep:
            kept = [k.write(t, v) for k, v in zip(kept, state)]
        out, ok, *state = step(xs[t], *params, *state)
        return t + 1, state, tf.logical_and(finite, ok), outputs.write(t, out), kept

    _, state, finite, outputs, kept = tf.while_loop(
        lambda t, *_: t < n_steps,
        body,
        (tf.constant(0), list(state), finite, outputs, kept),
        parallel_iterations=1,
    )
    return outputs.stack(), finite, [k.stack() for k in kept]


def run_over_time(cell, x, training: bool = False, time_major: bool = False):
    """``cell`` over inputs ``x`` ``(batch, time, ...)``: its output and per image finiteness.

    With ``time_major``, ``x`` and the output are ``(time, batch, ...)``: the loop's own
    layout, so no transposes (a network kept time-major, `convert.spiking_model`, saves
    four copies of every neuron layer's activity per batch).

    Returns
    -------
    output : tf.Tensor
        ``(batch, time, ...)`` (``(time, batch, ...)`` with ``time_major``)
    finite : tf.Tensor
        ``(batch,)``, whether every input current was finite.
    """

    def layout(t):  # between the caller's layout and the loop's (time-major)
        return t if time_major else _time_major(t)

    state = cell.initial_states(tf.shape(x)[1 if time_major else 0])
    params = list(cell.parameters())
    if not training:
        out, finite, _ = _forward(cell.steps["inference"], layout(x), params, state, False)
        return layout(out), finite
    vjp = cell.vjps[cell.training_mode]

    @tf.custom_gradient
    def loop(x, *params):
        xs = layout(x)
        # the forward values of every training step are inference's; only the
        # backward pass needs the training step, and it recomputes it anyway. Run
        # unwatched: under a tape, TensorFlow compiles a variant of the step that also
        # exports its intermediates, and XLA may then round differently from inference
        out, finite, kept = _forward(
            cell.steps["inference"],
            tf.stop_gradient(xs),
            [tf.stop_gradient(p) for p in params],
            state,
            keep=True,
        )

        def grad(g_out, _g_finite):
            g_out = layout(tf.zeros_like(x) if g_out is None else g_out)
            n_steps = tf.shape(xs)[0]
            g_xs = tf.TensorArray(xs.dtype, size=n_steps)

            def body(t, g_state, g_params, g_xs):
                g_x, g_p, g_state = vjp(xs[t], params, [k[t] for k in kept], g_out[t], g_state)
                return t - 1, g_state, [a + b for a, b in zip(g_params, g_p)], g_xs.write(t, g_x)

            _, _, g_params, g_xs = tf.while_loop(
                lambda t, *_: t >= 0,
                body,
                (
                    n_steps - 1,
                    [tf.zeros_like(v) for v in state],
                    [tf.zeros_like(p) for p in params],
                    g_xs,
                ),
                parallel_iterations=1,
            )
            return [layout(g_xs.stack()), *g_params]

        return (layout(out), finite), grad

    return loop(x, *params)


def vjp_function(step):
    """``step``'s vector-Jacobian product, recomputing the step from its inputs.

    Returns
    -------
    vjp : callable
        ``(x, params, state, g_out, g_state) -> (g_x, g_params, g_state_in)``.
    """

    def vjp(x, params, state, g_out, g_state):
        inputs = [x, *params, *state]
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            out, _, *new = step(x, *params, *state)
        grads = tape.gradient(
            [out, *new],
            inputs,
            output_gradients=[g_out, *g_state],
            unconnected_gradients=tf.UnconnectedGradients.ZERO,
        )
        n = len(params)
        return grads[0], grads[1 : 1 + n], grads[1 + n :]

    return vjp
