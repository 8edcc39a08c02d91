"""The training state: a pytree of arrays only, so it jits, shards and checkpoints as is."""

from __future__ import annotations

from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax


@flax.struct.dataclass
class TrainState:
    """Everything a train step reads and writes.

    The model's ``apply`` and the optimizer live in the step function's closure,
    not here, so the state is plain data: checkpoints hold exactly these fields.

    Attributes:
      step: optimizer micro-steps taken so far (int32 scalar).
      params: the ``"params"`` collection.
      model_state: every other mutable collection (e.g. ``{"batch_stats": ...}``).
      opt_state: the Optax optimizer state.
      loss_scale: a ``jaxvision.engine.loss_scale.DynamicLossScale`` when the model
        computes in float16, else None (no leaves: float32 / bfloat16 states and
        their checkpoints hold only the four fields above).
    """

    step: jax.Array
    params: Any
    model_state: Any
    opt_state: Any
    loss_scale: Any = None

    @property
    def variables(self) -> dict[str, Any]:
        """The variables dict ``model.apply`` takes."""
        return {"params": self.params, **self.model_state}


def create(
    variables: dict[str, Any], tx: optax.GradientTransformation, loss_scale: Any = None
) -> TrainState:
    """Builds a step-0 state from freshly initialised variables.

    Args:
      variables: ``model.init(...)`` output.
      tx: the optimizer from ``jaxvision.optim.make_optimizer``.
      loss_scale: a ``DynamicLossScale`` (``jaxvision.engine.loss_scale.from_config``)
        for float16 compute; None otherwise.

    Returns:
      The ``TrainState``.

    Example:
      >>> import flax.linen as nn
      >>> import optax
      >>> model = nn.BatchNorm(use_running_average=False)  # any Flax model, e.g. get_model(...)
      >>> rng, x = jax.random.key(0), jnp.zeros((4, 8))
      >>> state = create(model.init(rng, x), optax.sgd(0.1))
      >>> int(state.step), list(state.params), list(state.model_state)
      (0, ['scale', 'bias'], ['batch_stats'])
    """
    variables = dict(variables)
    params = variables.pop("params")
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        model_state=variables,
        opt_state=tx.init(params),
        loss_scale=loss_scale,
    )
