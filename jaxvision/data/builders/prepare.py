"""What the offline dataset builders share: a registered config with field overrides, and
generating a builder's ArrayRecord files once, with nothing downloaded."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import tensorflow_datasets as tfds


def config_with_overrides(
    configs: Sequence[tfds.core.BuilderConfig], config: str, overrides: dict[str, Any]
) -> tfds.core.BuilderConfig | str:
    """The registered ``config``, or a variant of it with ``overrides`` applied.

    Args:
      configs: the builder's registered configs (dataclasses of one type).
      config: the name of one of them.
      overrides: fields of that dataclass to change (sequences become tuples).

    Returns:
      ``config`` itself without overrides; else a copy named
      ``<config>_custom_<hash of the overrides>``, so that a variant never collides with the
      registered config in a data directory.

    Raises:
      ValueError: an override names no field of the config (the message lists the valid ones).
    """
    base = next(c for c in configs if c.name == config)
    if not overrides:
        return config
    fields = {f.name for f in dataclasses.fields(base)}
    allowed = sorted(fields - {f.name for f in dataclasses.fields(tfds.core.BuilderConfig)})
    unknown = sorted(set(overrides) - set(allowed))
    if unknown:
        raise ValueError(
            f"unknown {type(base).__name__} fields {unknown}; valid ones are {allowed}."
        )
    overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
    settings = ", ".join(f"{k}={overrides[k]!r}" for k in sorted(overrides))
    digest = hashlib.sha1(settings.encode()).hexdigest()[:10]
    return dataclasses.replace(
        base,
        name=f"{config}_custom_{digest}",
        description=f"{base.description} Overrides: {settings}.",
        **overrides,
    )


def prepare(
    builder_cls: Callable[..., tfds.core.DatasetBuilder],
    data_dir: str,
    config: str,
    overrides: dict[str, Any],
) -> tfds.core.DatasetBuilder:
    """Generates ``builder_cls``'s ``config`` (with ``overrides``) in ``data_dir`` as ArrayRecord
    files unless already there, and returns the prepared builder.

    Raises:
      ValueError: an unknown config or override field.
    """
    configs = builder_cls.BUILDER_CONFIGS
    names = [c.name for c in configs]
    if config not in names:
        raise ValueError(f"unknown {builder_cls.name} config {config!r}; valid ones are {names}.")
    builder = builder_cls(
        data_dir=data_dir, config=config_with_overrides(configs, config, overrides)
    )
    builder.download_and_prepare(
        file_format="array_record",
        download_config=tfds.download.DownloadConfig(try_download_gcs=False),
    )
    return builder
