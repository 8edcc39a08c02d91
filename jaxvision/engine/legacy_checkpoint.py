"""Checkpoints of the single-network layout, from before the state held named networks.

That layout saved ``{step, params, model_state, opt_state[, loss_scale]}`` at the top of the
state. It restores into a run that trains exactly one network and keeps no EMA of it: the
saved fields become that network's, and its optimizer's clock restarts from the saved step.
Any other run refuses it (``target`` raises), so a checkpoint is never read into the wrong
fields.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp


def get(tree: Any, key: str) -> Any:
    """``tree[key]`` of a checkpoint's metadata tree (a mapping), or None."""
    try:
        return tree[key]
    except (KeyError, TypeError, IndexError):
        return None


def is_legacy(saved: Any) -> bool:
    """Whether a checkpoint's state metadata has the single-network layout."""
    return get(saved, "networks") is None and get(saved, "params") is not None


def target(state: Any) -> dict[str, Any]:
    """The legacy-layout tree to restore into, built from this run's state.

    Raises:
      ValueError: the run trains several networks, or keeps an EMA (the legacy checkpoint
        holds neither).
    """
    if len(state.networks) != 1:
        raise ValueError(
            "it holds one network's state (the layout before named networks), and this run "
            f"trains {sorted(state.networks)}"
        )
    (net,) = state.networks.values()
    if net.ema_params is not None:
        raise ValueError(
            "it holds no EMA (the layout before named networks), and this run keeps one: "
            "drop config.ema or start afresh"
        )
    return {
        "step": state.step,
        "params": net.params,
        "model_state": net.model_state,
        "opt_state": net.opt_state,
        "loss_scale": state.loss_scale,
    }


def convert(restored: dict[str, Any], state: Any) -> Any:
    """The run's ``TrainState`` with a restored legacy tree's values in place."""
    (name, net) = next(iter(state.networks.items()))
    step = restored["step"]
    net = net.replace(
        step=jnp.copy(step),  # its own buffer: the train step donates both
        params=restored["params"],
        model_state=restored["model_state"],
        opt_state=restored["opt_state"],
    )
    return state.replace(
        step=step,
        networks={name: net},
        loss_scale=restored.get("loss_scale", state.loss_scale),
    )
