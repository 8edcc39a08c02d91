"""The training state: named networks, frozen variables, the step count and the loss scale.

A state holds one ``NetworkState`` per trained network (a classifier's ``"model"``; a GAN's
``"generator"`` and ``"discriminator"``), each with its parameters, its other mutable
collections, its own optimizer state and, optionally, an exponential moving average of its
parameters. Frozen, never-trained variables (a pretrained feature network inside a
perceptual loss) sit beside them. Everything is a pytree of arrays, so the state jits,
shards and checkpoints as is; each network's optimizer and schedule are static fields (not
leaves), as in ``flax.training.train_state.TrainState``.

Example:
  >>> import flax.linen as nn
  >>> import optax
  >>> model = nn.Dense(2)
  >>> variables = model.init(jax.random.key(0), jnp.zeros((1, 3)))
  >>> net = create_network(variables, optax.sgd(0.1), optax.constant_schedule(0.1))
  >>> state = TrainState.create({"model": net})
  >>> int(state.step), list(state.networks), sorted(state.networks["model"].params)
  (0, ['model'], ['bias', 'kernel'])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax

Variables = dict[str, Any]


@flax.struct.dataclass
class NetworkState:
    """One trained network: parameters, other collections, optimizer state, EMA.

    Attributes:
      step: this network's optimizer micro-steps (int32 scalar); its schedule's clock.
      params: the ``"params"`` collection.
      model_state: every other mutable collection (e.g. ``{"batch_stats": ...}``).
      opt_state: the Optax optimizer state.
      ema_params: exponential moving average of ``params`` (its decay warms up:
        ``jaxvision.engine.updates.ema_decay_at``), or None (no EMA).
      tx: the optimizer (static).
      schedule: its learning-rate schedule, in optimizer updates (static).
      accumulation_steps: micro-steps per optimizer update (static).
      ema_decay: the EMA's decay (static; 0 when there is no EMA).
    """

    step: jax.Array
    params: Any
    model_state: Any
    opt_state: Any
    ema_params: Any = None
    tx: optax.GradientTransformation = flax.struct.field(pytree_node=False, default=None)
    schedule: Any = flax.struct.field(pytree_node=False, default=None)
    accumulation_steps: int = flax.struct.field(pytree_node=False, default=1)
    ema_decay: float = flax.struct.field(pytree_node=False, default=0.0)

    def variables(self, ema: bool = False) -> Variables:
        """The variables dict ``model.apply`` takes; ``ema=True`` puts the EMA parameters in
        (where there is an EMA; batch statistics stay the live ones)."""
        params = self.ema_params if ema and self.ema_params is not None else self.params
        return {"params": params, **self.model_state}

    @property
    def learning_rate(self) -> jax.Array:
        """The learning rate of this network's next optimizer update."""
        return self.schedule(self.step // self.accumulation_steps)


def create_network(
    variables: Variables,
    tx: optax.GradientTransformation,
    schedule: optax.Schedule,
    accumulation_steps: int = 1,
    ema_decay: float = 0.0,
) -> NetworkState:
    """A step-0 ``NetworkState`` from freshly initialised variables.

    Args:
      variables: ``model.init(...)`` output (``"params"`` and any other collections).
      tx: the optimizer (``jaxvision.optim.make_optimizer``).
      schedule: its learning-rate schedule.
      accumulation_steps: micro-steps per optimizer update (``optax.MultiSteps``'s k).
      ema_decay: decay of an EMA of the parameters, in [0, 1); 0 keeps no EMA.

    Returns:
      The ``NetworkState``.

    Raises:
      ValueError: for an EMA decay outside [0, 1).

    Example:
      >>> import optax
      >>> net = create_network({"params": {"w": jnp.ones(2)}}, optax.adam(1e-3),
      ...                      optax.constant_schedule(1e-3), ema_decay=0.99)
      >>> net.ema_params["w"]
      Array([1., 1.], dtype=float32)
    """
    if not 0.0 <= ema_decay < 1.0:
        raise ValueError(f"an EMA decay must lie in [0, 1), got {ema_decay}")
    variables = dict(variables)
    params = variables.pop("params")
    return NetworkState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        model_state=variables,
        opt_state=tx.init(params),
        ema_params=jax.tree.map(jnp.array, params) if ema_decay > 0 else None,
        tx=tx,
        schedule=schedule,
        accumulation_steps=accumulation_steps,
        ema_decay=float(ema_decay),
    )


@flax.struct.dataclass
class TrainState:
    """Everything a train step reads and writes.

    Attributes:
      step: train steps taken so far (int32 scalar).
      networks: network name -> ``NetworkState``.
      frozen: name -> variables of a network that is never trained (a pretrained feature
        extractor); left out of checkpoints (it is an input of the run, rebuilt at start).
      loss_scale: a ``jaxvision.engine.loss_scale.DynamicLossScale`` when the model computes
        in float16, else None (no leaves).
    """

    step: jax.Array
    networks: dict[str, NetworkState]
    frozen: dict[str, Variables] = flax.struct.field(default_factory=dict)
    loss_scale: Any = None

    @classmethod
    def create(
        cls,
        networks: Mapping[str, NetworkState],
        frozen: Mapping[str, Variables] | None = None,
        loss_scale: Any = None,
    ) -> TrainState:
        """A step-0 state of the given networks (see ``create_network``)."""
        if not networks:
            raise ValueError("a train state needs at least one trained network")
        return cls(
            step=jnp.zeros((), jnp.int32),
            networks=dict(networks),
            frozen=dict(frozen or {}),
            loss_scale=loss_scale,
        )

    def next_step(self) -> TrainState:
        """The state with ``step`` advanced by one (the end of every train step)."""
        return self.replace(step=self.step + 1)

    def eval_variables(self, ema: bool = True) -> dict[str, Variables]:
        """name -> variables of every network (EMA parameters where kept) and frozen one."""
        trained = {name: net.variables(ema=ema) for name, net in self.networks.items()}
        return {**trained, **self.frozen}
