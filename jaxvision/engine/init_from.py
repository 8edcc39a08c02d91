"""Starting a run's networks from another run's: a pre-training phase the next phase builds on.

Config keys: ``init_from.workdir`` (a ``python -m train`` workdir; "" starts from scratch) and
``init_from.networks`` (this run's network -> that run's network, e.g. a GAN's
``{"generator": "model"}`` to start from a PSNR-oriented run, as SRGAN starts from SRResNet).
The networks named take that run's latest parameters and other collections (not its EMA);
their optimizer states start afresh and their EMAs start at the copied parameters. It applies
to a fresh run only: a run that resumes from its own checkpoint takes that one.
"""

from __future__ import annotations

from typing import Any

import jax
import ml_collections

from jaxvision.engine.checkpoint import describe_mismatch
from jaxvision.engine.errors import ConfigError
from jaxvision.engine.train_state import TrainState

KEY = "init_from"


def _mapping(config: ml_collections.ConfigDict) -> tuple[str, dict[str, str]]:
    cfg = config.get(KEY) or {}
    workdir = cfg.get("workdir", "") or ""
    networks = dict(cfg.get("networks") or {})
    return workdir, networks


def _place_like(new: Any, old: Any) -> Any:
    """``new``'s arrays on the devices and shardings of ``old``'s."""
    return jax.tree.map(lambda n, o: jax.device_put(n, o.sharding), new, old)


def init_from_run(state: TrainState, config: ml_collections.ConfigDict) -> TrainState:
    """``state`` with the networks ``config.init_from`` names copied from another run.

    Args:
      state: this run's step-0 state.
      config: this run's config.

    Returns:
      The state, unchanged when ``init_from.workdir`` is empty.

    Raises:
      ConfigError: no networks named, a network this run or that run lacks, a workdir with no
        trained run, or parameters that differ in structure or shape (the message names them).
    """
    workdir, networks = _mapping(config)
    if not workdir:
        return state
    if not networks:
        raise ConfigError(f"{KEY}.workdir is {workdir!r} but {KEY}.networks names no network")
    from jaxvision.engine.inference import restore_run  # the engine's loader of a workdir

    try:
        source = restore_run(workdir).state
    except FileNotFoundError as e:
        raise ConfigError(
            f"{KEY}.workdir={workdir!r} holds no trained run to start from ({e}); train that "
            "run first (its config's docstring has the command)"
        ) from e
    new_networks = dict(state.networks)
    for mine, theirs in networks.items():
        if mine not in state.networks or theirs not in source.networks:
            raise ConfigError(
                f"{KEY}.networks maps {mine!r} <- {theirs!r}; this run trains "
                f"{sorted(state.networks)}, {workdir!r} trained {sorted(source.networks)}"
            )
        net, donor = state.networks[mine], source.networks[theirs]
        mine_tree = {"params": net.params, "model_state": net.model_state}
        problems = describe_mismatch(
            mine_tree, {"params": donor.params, "model_state": donor.model_state}
        )
        if problems:
            raise ConfigError(
                f"{KEY}: network {theirs!r} of {workdir!r} does not fit {mine!r} "
                f"({len(problems)} differences, first: {problems[:5]})"
            )
        params = _place_like(donor.params, net.params)
        # The EMA gets buffers of its own: the step donates the state, and one buffer under
        # two leaves cannot be donated twice.
        ema = None if net.ema_params is None else jax.tree.map(lambda x: x.copy(), params)
        new_networks[mine] = net.replace(
            params=params,
            model_state=_place_like(donor.model_state, net.model_state),
            ema_params=ema,
        )
    return state.replace(networks=new_networks)
