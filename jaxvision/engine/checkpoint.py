"""Orbax checkpoints of the train state and the input iterator, refused when they do not fit.

A checkpoint holds the train state less its frozen variables (an input of the run, rebuilt
at start) and the Grain iterator's position. A checkpoint whose networks, shapes or dtypes
differ from the run's is refused with a message that names the differences, and left in
place. A checkpoint of the layout before named networks (one network's ``params``,
``model_state`` and ``opt_state`` at the top) restores into a run with one trained network
and no EMA (``jaxvision.engine.legacy_checkpoint``), and is refused otherwise.
"""

from __future__ import annotations

import os
from typing import Any

import grain
import jax
import numpy as np
import orbax.checkpoint as ocp

from jaxvision.engine import legacy_checkpoint

STATE_ITEM = "state"
DATA_ITEM = "data"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be restored into this run (corrupt or incompatible)."""


def _leaves_by_path(tree: Any) -> dict[str, Any]:
    """``{"model_state/batch_stats/norm/mean": leaf}``, whatever the container types."""

    def key_name(key: Any) -> str:
        for attr in ("key", "name", "idx"):
            if hasattr(key, attr):
                return str(getattr(key, attr))
        return str(key)

    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {"/".join(key_name(k) for k in path): leaf for path, leaf in flat}


def describe_mismatch(expected: Any, found: Any) -> list[str]:
    """Paths whose shape or dtype differ between two pytrees of array-likes (or are in one
    only), as readable lines."""
    problems = []
    exp, got = _leaves_by_path(expected), _leaves_by_path(found)
    for name in sorted(set(exp) | set(got)):
        path = name
        if path not in got:
            problems.append(f"{name}: missing from the checkpoint")
        elif path not in exp:
            problems.append(f"{name}: in the checkpoint but not in this model")
        else:
            e, g = exp[path], got[path]
            if tuple(e.shape) != tuple(g.shape) or np.dtype(e.dtype) != np.dtype(g.dtype):
                problems.append(
                    f"{name}: checkpoint {g.dtype}{list(g.shape)} vs run {e.dtype}{list(e.shape)}"
                )
    return problems


def _abstract(state: Any) -> Any:
    """ShapeDtypeStructs (with shardings) of a state of arrays or of ShapeDtypeStructs."""
    return jax.tree.map(
        lambda x: x if isinstance(x, jax.ShapeDtypeStruct) else ocp.utils.to_shape_dtype_struct(x),
        state,
    )


def without_frozen(state: Any) -> Any:
    """The part of a ``TrainState`` a checkpoint holds: all of it but ``frozen``."""
    return state.replace(frozen={}) if hasattr(state, "frozen") else state


def _check_networks(state: Any, saved: Any, where: str) -> None:
    """Refuses a checkpoint whose trained networks are not the run's."""
    saved_networks = sorted(legacy_checkpoint.get(saved, "networks") or {})
    run_networks = sorted(state.networks)
    if saved_networks != run_networks:
        raise CheckpointError(
            f"checkpoint {where} holds networks {saved_networks}, this run trains "
            f"{run_networks}; refusing to start and leaving it in place. Use another "
            "--workdir, or move the checkpoints away to start afresh."
        )


class Checkpointer:
    """Keeps the last N checkpoints of (train state, data iterator) in ``directory``.

    Saves are atomic (Orbax writes to a temporary folder and renames it), so a
    crash mid-save leaves the previous checkpoint intact.

    Example:
      >>> import tempfile
      >>> import optax
      >>> from jaxvision.data.pipeline import train_dataset
      >>> from jaxvision.engine import train_state
      >>> workdir = tempfile.mkdtemp()
      >>> net = train_state.create_network({"params": {"w": jnp.zeros(3)}}, optax.sgd(0.1),
      ...                                  optax.constant_schedule(0.1))
      >>> state = train_state.TrainState.create({"model": net})
      >>> src = [{"image": np.zeros((8, 8, 3), np.uint8), "label": 0}] * 4
      >>> data_iter = iter(train_dataset(src, "", ("image", "label"), global_batch_size=2, seed=0))
      >>> ckpt = Checkpointer(workdir + "/checkpoints", max_to_keep=3)
      >>> state = ckpt.restore_latest(state, data_iter) or state  # None: no checkpoint yet
      >>> ckpt.save(int(state.step), state, data_iter)
      >>> ckpt.wait()
      >>> ckpt.latest_step()
      0
      >>> ckpt.close()
    """

    def __init__(self, directory: str, max_to_keep: int = 3):
        if max_to_keep < 1:
            raise ValueError(f"keep_checkpoints must be >= 1, got {max_to_keep}")
        self.directory = os.path.abspath(directory)
        self.manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True),
            item_handlers={
                STATE_ITEM: ocp.StandardCheckpointHandler(),
                DATA_ITEM: grain.checkpoint.CheckpointHandler(),
            },
        )

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def save(self, step: int, state: Any, data_iterator: Any, force: bool = True) -> None:
        """Saves the state (less its frozen variables) and the iterator position at ``step``
        (asynchronously)."""
        self.manager.save(
            step,
            args=ocp.args.Composite(
                **{
                    STATE_ITEM: ocp.args.StandardSave(without_frozen(state)),
                    DATA_ITEM: grain.checkpoint.CheckpointSave(data_iterator),
                }
            ),
            force=force,
        )

    def restore_latest(self, state: Any, data_iterator: Any | None = None) -> Any | None:
        """Restores the newest checkpoint into the layout of ``state``.

        Args:
          state: a state of this run (its shapes, dtypes and shardings are the target).
          data_iterator: the training iterator, whose position is restored in place;
            None restores the state alone (inference).

        Returns:
          The restored state, or None when there is no checkpoint.

        Raises:
          CheckpointError: the checkpoint is unreadable or does not fit this run's
            model/optimizer; it is left untouched on disk.
        """
        step = self.manager.latest_step()
        if step is None:
            return None
        where = os.path.join(self.directory, str(step))
        saved = self._saved_state(step, where)
        if legacy_checkpoint.is_legacy(saved):
            try:
                target = legacy_checkpoint.target(state)
            except ValueError as e:
                raise CheckpointError(f"checkpoint {where}: {e}; refusing to start.") from e
        else:
            _check_networks(state, saved, where)
            target = without_frozen(state)
        problems = describe_mismatch(target, saved)
        if problems:
            raise CheckpointError(
                f"checkpoint {where} does not fit this run's model/optimizer "
                f"({len(problems)} differences, first: {problems[:5]}); refusing to start. "
                "Use another --workdir, or move the checkpoints away to start afresh."
            )
        items = {STATE_ITEM: ocp.args.StandardRestore(_abstract(target))}
        if data_iterator is not None:
            items[DATA_ITEM] = grain.checkpoint.CheckpointRestore(data_iterator)
        try:
            restored = self.manager.restore(step, args=ocp.args.Composite(**items))
        except Exception as e:
            raise CheckpointError(
                f"checkpoint {where} could not be restored ({type(e).__name__}: {e}); "
                "refusing to start and leaving it in place."
            ) from e
        if legacy_checkpoint.is_legacy(saved):
            return legacy_checkpoint.convert(restored[STATE_ITEM], state)
        return restored[STATE_ITEM].replace(frozen=state.frozen)

    def _saved_state(self, step: int, where: str) -> Any:
        """The metadata tree of a checkpoint's train state."""
        try:
            saved = self.manager.item_metadata(step)[STATE_ITEM]
        except Exception as e:
            raise CheckpointError(f"checkpoint {where} is unreadable: {e}") from e
        if saved is None:
            raise CheckpointError(f"checkpoint {where} has no train state")
        return saved

    def wait(self) -> None:
        """Blocks until pending asynchronous saves are on disk."""
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()
