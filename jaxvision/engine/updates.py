"""The helpers every train step is written with: gradients, optimizer updates, EMA, metrics.

A task's train step is a pure function ``(state, batch, rng) -> (state, metrics)``. It
differentiates its losses with ``value_and_grad`` (which applies the state's dynamic loss
scale in float16) and updates each network with ``apply_gradients`` (the optimizer, the
skip of a non-finite float16 step, the loss-scale adjustment, the EMA). It ends with
``state.next_step()``. The engine's NaN guard reads the step's metrics on the host: a
metric named ``loss`` or ``*_loss`` that is NaN or Inf stops the run.

Example (one network; a GAN calls ``value_and_grad`` / ``apply_gradients`` once per
network, in the order its schedule says):
  >>> import flax.linen as nn
  >>> import optax
  >>> from jaxvision.engine import train_state
  >>> model = nn.Dense(1)
  >>> x, y = jnp.ones((4, 3)), jnp.zeros((4, 1))
  >>> net = train_state.create_network(
  ...     model.init(jax.random.key(0), x), optax.sgd(0.1), optax.constant_schedule(0.1))
  >>> state = train_state.TrainState.create({"model": net})
  >>> def step(state, batch, rng):
  ...     def loss_fn(params):
  ...         pred = model.apply({"params": params}, batch["x"])
  ...         return jnp.mean((pred - batch["y"]) ** 2), {}
  ...     (loss, aux), grads = value_and_grad(loss_fn, state, "model")
  ...     state, metrics = apply_gradients(state, "model", grads)
  ...     return state.next_step(), {**metrics, "loss": loss}
  >>> state, metrics = jax.jit(step)(state, {"x": x, "y": y}, jax.random.key(1))
  >>> int(state.step), int(state.networks["model"].step), sorted(metrics)
  (1, 1, ['grad_norm', 'learning_rate', 'loss'])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import optax

from jaxvision.engine import loss_scale as loss_scale_lib
from jaxvision.engine.train_state import NetworkState, TrainState

# Metric names the NaN guard checks: "loss" and every "<something>_loss".
LOSS_METRIC = "loss"
LOSS_METRIC_SUFFIX = "_loss"


def is_loss_metric(name: str) -> bool:
    """Whether the NaN guard checks the metric ``name`` (``loss`` or ``*_loss``).

    Example:
      >>> is_loss_metric("d_loss"), is_loss_metric("accuracy")
      (True, False)
    """
    base = name.rsplit("/", 1)[-1]
    return base == LOSS_METRIC or base.endswith(LOSS_METRIC_SUFFIX)


def value_and_grad(
    loss_fn: Callable[..., tuple[jax.Array, Any]],
    state: TrainState,
    network: str,
    *args: Any,
) -> tuple[tuple[jax.Array, Any], Any]:
    """``jax.value_and_grad(loss_fn, has_aux=True)`` in a network's parameters, loss-scaled.

    With a loss scale in the state (float16 compute), the scaled loss is differentiated and
    the gradients unscaled in float32; the loss returned is the unscaled one.

    Args:
      loss_fn: ``loss_fn(params, *args) -> (scalar loss, aux)``.
      state: the current state.
      network: the name of the network whose ``params`` are differentiated.
      *args: further arguments of ``loss_fn`` (not differentiated).

    Returns:
      ``((loss, aux), grads)``, grads shaped like the network's params.

    Raises:
      KeyError: for a network the state does not hold (the message names those it does).
    """
    params = _network(state, network).params
    scaler = state.loss_scale
    if scaler is None:
        return jax.value_and_grad(loss_fn, has_aux=True)(params, *args)

    def scaled(p, *a):
        loss, aux = loss_fn(p, *a)
        return scaler.scale_loss(loss), (loss, aux)

    (_, (loss, aux)), grads = jax.value_and_grad(scaled, has_aux=True)(params, *args)
    return (loss, aux), scaler.unscale(grads)


def apply_gradients(
    state: TrainState,
    network: str,
    grads: Any,
    model_state: Any = None,
) -> tuple[TrainState, dict[str, jax.Array]]:
    """One optimizer micro-step of one network, and its EMA.

    With a loss scale (float16), a step whose gradients are not all finite leaves the
    network's parameters, optimizer state, model state and EMA unchanged (its step still
    counts) and halves the scale; finite steps grow it on its period.

    Args:
      state: the current state.
      network: the network to update.
      grads: gradients shaped like its params (from ``value_and_grad``).
      model_state: its new mutable collections (e.g. batch statistics), stored in the old
        ones' dtypes; None keeps them.

    Returns:
      The new state and metrics: ``grad_norm``, ``learning_rate`` (the one this update
      used); with loss scaling also ``loss_scale`` (the scale this update used) and
      ``grads_finite`` (1 applied, 0 skipped).
    """
    net = _network(state, network)
    if model_state is None:
        model_state = net.model_state
    model_state = _cast_like(model_state, net.model_state)
    updates, opt_state = net.tx.update(grads, net.opt_state, net.params)
    params = optax.apply_updates(net.params, updates)
    ema = _ema_update(net.ema_params, params, net.ema_decay, net.step)
    metrics = {"grad_norm": optax.global_norm(grads), "learning_rate": net.learning_rate}
    scaler = state.loss_scale
    if scaler is not None:
        finite = loss_scale_lib.all_finite(grads)
        params, opt_state, model_state, ema = loss_scale_lib.select_tree(
            finite,
            (params, opt_state, model_state, ema),
            (net.params, net.opt_state, net.model_state, net.ema_params),
        )
        metrics["loss_scale"] = scaler.scale
        metrics["grads_finite"] = finite.astype(jnp.float32)
        state = state.replace(loss_scale=scaler.adjust(finite))
    new_net = net.replace(
        step=net.step + 1,
        params=params,
        model_state=model_state,
        opt_state=opt_state,
        ema_params=ema,
    )
    return state.replace(networks={**state.networks, network: new_net}), metrics


def update_model_state(state: TrainState, network: str, model_state: Any) -> TrainState:
    """The state with a network's mutable collections replaced (no optimizer step): for a
    forward pass in training mode whose batch statistics must be kept."""
    net = _network(state, network)
    model_state = _cast_like(model_state, net.model_state)
    return state.replace(networks={**state.networks, network: net.replace(model_state=model_state)})


def _cast_like(new: Any, old: Any) -> Any:
    """``new`` in ``old``'s dtypes, leaf by leaf: batch statistics computed in a wider dtype
    (float64 activations over float32 statistics) keep the state's types, so that the jitted
    step sees the same input types every call and compiles once."""
    return jax.tree.map(lambda n, o: n.astype(o.dtype), new, old)


def prefixed(metrics: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """``{f"{prefix}_{name}": value}``: one network's update metrics in a multi-network step.

    Example:
      >>> prefixed({"grad_norm": 1.0}, "d")
      {'d_grad_norm': 1.0}
    """
    return {f"{prefix}_{name}": value for name, value in metrics.items()}


def ema_decay_at(decay: float, step: jax.Array) -> jax.Array:
    """The EMA decay of update ``step`` (from 0): ``min(decay, (1 + step) / (10 + step))``.

    The warm-up (TensorFlow's ``ExponentialMovingAverage`` with ``num_updates``) keeps the
    initial parameters from lingering in the average of a short run: with decay 0.999 they
    would still weigh 37% after 1,000 updates.

    Example:
      >>> [round(float(ema_decay_at(0.999, jnp.asarray(n))), 3) for n in (0, 90, 100_000)]
      [0.1, 0.91, 0.999]
    """
    step = jnp.asarray(step, jnp.float32)
    return jnp.minimum(decay, (1.0 + step) / (10.0 + step))


def _ema_update(ema: Any, params: Any, decay: float, step: jax.Array) -> Any:
    """``d * ema + (1 - d) * params`` leaf by leaf, ``d = ema_decay_at(decay, step)`` (None
    when there is no EMA)."""
    if ema is None:
        return None
    d = ema_decay_at(decay, step)
    return jax.tree.map(lambda e, p: (d * e + (1.0 - d) * p).astype(e.dtype), ema, params)


def _network(state: TrainState, name: str) -> NetworkState:
    if name not in state.networks:
        raise KeyError(f"no network {name!r} in the state; it holds {sorted(state.networks)}")
    return state.networks[name]
