"""Sharding rules for the train state: replicated, or FSDP-style over the ``data`` axis.

"replicated" copies every leaf on every device (data parallelism). "fsdp" (fully sharded data
parallelism, ZeRO-3 style) splits each large leaf of the state (parameters, optimizer moments,
model state) over the same ``data`` axis that splits the batch, along its largest dimension
that the axis size divides; small leaves stay replicated. Each device then holds about
``1 / n`` of the state. Nothing else changes: the train step is the same function, jitted
with these shardings, and XLA's SPMD partitioner inserts the all-gathers of the parameters
the forward and backward passes need and reduces the gradients onto the shards the optimizer
updates.

The shardings are a function of shapes only, so they are computed once from the abstract
state (``jax.eval_shape``) and used for initialisation, the train step and checkpoint
restore alike. An optimizer moment shaped like its parameter gets the parameter's sharding.

Example:
  >>> import flax.linen as nn
  >>> import optax
  >>> from jaxvision.engine import train_state
  >>> from jaxvision.engine.mesh import make_mesh
  >>> model = nn.Dense(1024)
  >>> def init(rng, batch):
  ...     tx, schedule = optax.adam(1e-3), optax.constant_schedule(1e-3)
  ...     net = train_state.create_network(model.init(rng, batch), tx, schedule)
  ...     return train_state.TrainState.create({"model": net})
  >>> mesh, rng, batch = make_mesh(), jax.random.key(0), jnp.zeros((8, 256))
  >>> abstract = jax.eval_shape(init, rng, batch)
  >>> shardings = state_shardings(abstract, mesh, "fsdp", min_size=2**16)
  >>> state = jax.jit(init, out_shardings=shardings)(rng, batch)
"""

from __future__ import annotations

import math
from typing import Any

import jax
import ml_collections
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxvision.engine import mesh as mesh_lib

RULES = ("replicated", "fsdp")
DEFAULT_RULE = "replicated"
# Leaves with fewer elements stay replicated under "fsdp": 2**16 float32 elements are 256 KiB.
# Sharding a smaller leaf saves little memory and adds a collective whose latency, not its
# bandwidth, dominates. Biases, norm scales and statistics and small kernels stay whole, yet
# the sharded leaves hold 98.8% of ResNet-50's parameters (42 of 161 leaves), 99.9% of
# ViT-B/16's (75 of 200) and 98.1% of ResNet-18's (13 of 62).
DEFAULT_FSDP_MIN_SIZE = 2**16


def fsdp_spec(shape: tuple[int, ...], num_shards: int, min_size: int) -> PartitionSpec:
    """The FSDP partition of one leaf: its largest dimension divisible by ``num_shards``.

    Args:
      shape: the leaf's shape.
      num_shards: size of the ``data`` axis.
      min_size: leaves with fewer elements are replicated.

    Returns:
      ``PartitionSpec()`` (replicated) for a small leaf, a scalar, one device, or a leaf
      with no dimension divisible by ``num_shards``; else a spec naming ``data`` at the
      chosen dimension (the last of equally large ones: a kernel's output channels).

    Example:
      >>> tuple(fsdp_spec((3, 3, 256, 512), num_shards=4, min_size=2**16))
      (None, None, None, 'data')
    """
    if num_shards <= 1 or math.prod(shape) < min_size:
        return PartitionSpec()
    divisible = [i for i, size in enumerate(shape) if size % num_shards == 0]
    if not divisible:
        return PartitionSpec()
    axis = max(divisible, key=lambda i: (shape[i], i))
    return PartitionSpec(*(mesh_lib.DATA_AXIS if i == axis else None for i in range(len(shape))))


def state_shardings(abstract_state: Any, mesh: Mesh, rule: str, min_size: int) -> Any:
    """A ``NamedSharding`` for every leaf of a state, by ``rule``.

    Args:
      abstract_state: the state, or its ``jax.eval_shape`` (anything with ``.shape``).
      mesh: the mesh of ``jaxvision.engine.mesh.make_mesh``.
      rule: one of ``RULES``.
      min_size: the "fsdp" rule's smallest sharded leaf, in elements (>= 0).

    Returns:
      A pytree of ``NamedSharding`` shaped like ``abstract_state``.

    Raises:
      ValueError: for an unknown rule or a negative ``min_size``.

    Example:
      >>> import flax.linen as nn
      >>> from jaxvision.engine.mesh import make_mesh
      >>> init = nn.Dense(1024).init
      >>> mesh, rng, batch = make_mesh(), jax.random.key(0), jnp.zeros((8, 256))
      >>> shardings = state_shardings(jax.eval_shape(init, rng, batch), mesh, "fsdp", 2**16)
      >>> tuple(shardings["params"]["bias"].spec)  # 1024 elements < 2**16: replicated
      ()
    """
    if rule not in RULES:
        raise ValueError(f"unknown sharding {rule!r}; valid: {', '.join(RULES)}")
    if isinstance(min_size, bool) or not isinstance(min_size, int) or min_size < 0:
        raise ValueError(f"fsdp_min_size must be an int >= 0, got {min_size!r}")
    if rule == "replicated":
        replicated = mesh_lib.replicated(mesh)
        return jax.tree.map(lambda _: replicated, abstract_state)
    num_shards = mesh.shape[mesh_lib.DATA_AXIS]
    return jax.tree.map(
        lambda x: NamedSharding(mesh, fsdp_spec(tuple(x.shape), num_shards, min_size)),
        abstract_state,
    )


def from_config(abstract_state: Any, mesh: Mesh, config: ml_collections.ConfigDict) -> Any:
    """``state_shardings`` by the config's ``sharding`` and ``fsdp_min_size``.

    Configs saved before these keys existed get the defaults (replicated).
    """
    return state_shardings(
        abstract_state,
        mesh,
        config.get("sharding", DEFAULT_RULE),
        int(config.get("fsdp_min_size", DEFAULT_FSDP_MIN_SIZE)),
    )


def shardings_of(tree: Any) -> Any:
    """The ``.sharding`` of every array of a pytree (e.g. an initialised state)."""
    return jax.tree.map(lambda x: x.sharding, tree)


def replicate(tree: Any, mesh: Mesh) -> Any:
    """A pytree of arrays gathered to replicated (a no-op when it already is).

    For functions compiled with replicated inputs (eval, predict) fed FSDP-sharded
    variables. Works across processes (a jitted identity).

    Example:
      >>> from jax.sharding import NamedSharding, PartitionSpec
      >>> from jaxvision.engine.mesh import make_mesh
      >>> mesh = make_mesh()
      >>> fsdp = NamedSharding(mesh, PartitionSpec(None, "data"))
      >>> variables = {"params": {"kernel": jax.device_put(jnp.ones((256, 1024)), fsdp)}}
      >>> gathered = replicate(variables, mesh)  # e.g. for an eval step compiled replicated
      >>> gathered["params"]["kernel"].sharding.is_fully_replicated
      True
    """
    replicated = mesh_lib.replicated(mesh)
    if all(x.sharding.is_equivalent_to(replicated, x.ndim) for x in jax.tree.leaves(tree)):
        return tree
    return jax.jit(lambda t: t, out_shardings=replicated)(tree)
