"""The device mesh, its shardings, and global batches assembled from per-process data.

One code path serves 1 device, N local devices and N processes: the mesh has a
single axis ``data`` over every device of every process; batches are sharded
along it and parameters replicated (``jax.jit`` inserts the gradient all-reduce,
and BatchNorm statistics are computed over the whole global batch).
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

DATA_AXIS = "data"


def make_mesh(devices: list[jax.Device] | None = None) -> Mesh:
    """A 1-D mesh over all devices (of every process), axis name ``data``.

    Example:
      >>> mesh = make_mesh()
      >>> mesh.axis_names
      ('data',)
    """
    devices = jax.devices() if devices is None else devices
    return Mesh(np.asarray(devices), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    """The sharding of a value copied on every device."""
    return NamedSharding(mesh, PartitionSpec())


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """The sharding of a batch split along its leading dimension over ``data``."""
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def global_batch(local_batch: Any, mesh: Mesh) -> Any:
    """Assembles each process's local batch into one global, sharded ``jax.Array``.

    Args:
      local_batch: a pytree of NumPy arrays ``[local_batch, ...]``, this process's
        rows of the global batch.
      mesh: the mesh from ``make_mesh``.

    Returns:
      The same pytree of ``jax.Array`` ``[local_batch * process_count, ...]`` sharded
      over ``data``.
    """
    sharding = batch_sharding(mesh)
    return jax.tree.map(
        lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), local_batch
    )
