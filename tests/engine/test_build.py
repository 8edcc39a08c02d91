"""From a config to a task, optimizers and evaluators: names the task does not have are errors."""

from __future__ import annotations

import importlib.util
import os

import ml_collections
import pytest

from jaxvision import optim
from jaxvision.data.sources import DatasetMeta
from jaxvision.engine import build
from jaxvision.engine import mesh as mesh_lib
from jaxvision.engine.build import ConfigError
from train.configs import demo

META = DatasetMeta("shapes", ("circle", "square"), 8)
GAN_CONFIG = os.path.join(os.path.dirname(__file__), "tiny_gan_config.py")


def _gan_config() -> ml_collections.ConfigDict:
    spec = importlib.util.spec_from_file_location("tiny_gan_config", GAN_CONFIG)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config()


def _build(config):
    return build.build(config, META, mesh_lib.make_mesh())


def test_each_network_gets_its_own_optimizer_and_ema():
    setup = _build(_gan_config())
    assert sorted(setup.optimizers) == ["discriminator", "generator"]
    assert setup.optimizers["generator"].ema_decay == 0.9
    assert setup.optimizers["discriminator"].ema_decay == 0.0
    assert float(setup.optimizers["generator"].schedule(0)) == pytest.approx(2e-3)
    assert float(setup.optimizers["discriminator"].schedule(0)) == pytest.approx(1e-3)
    assert [ev.name for ev in setup.evaluators] == ["discriminator", "samples", "realness"]


def test_a_network_without_its_own_optimizer_takes_the_default_one():
    config = _gan_config()
    del config.optimizers["discriminator"]
    config.optimizer.learning_rate = 0.25
    config.optimizer.schedule = "constant"
    setup = _build(config)
    assert float(setup.optimizers["discriminator"].schedule(0)) == pytest.approx(0.25)


@pytest.mark.parametrize(
    "key, value, kind",
    [
        ("optimizers", {"critic": optim.default_config()}, "'optimizers'"),
        ("ema", {"critic": 0.99}, "'ema'"),
        ("evaluators", ("fid",), "'evaluators'"),
    ],
)
def test_names_the_task_does_not_have_are_errors_that_list_the_valid_ones(key, value, kind):
    config = _gan_config()
    with config.unlocked():
        config[key] = value
    with pytest.raises(ConfigError, match=kind) as info:
        _build(config)
    message = str(info.value)
    assert "TinyGANTask" in message
    valid = (
        "['discriminator', 'samples', 'realness']"
        if key == "evaluators"
        else "['generator', 'discriminator']"
    )
    assert valid in message


def test_evaluators_select_a_subset_and_unknown_tasks_are_named():
    config = _gan_config()
    config.evaluators = ("samples",)
    assert [ev.name for ev in _build(config).evaluators] == ["samples"]
    config = demo.get_config()
    config.task = "nonexistent"
    with pytest.raises(ConfigError, match="unknown task 'nonexistent'"):
        _build(config)
    config.task = "tests.engine.tiny_gan:Generator"
    with pytest.raises(ConfigError, match="not a jaxvision.tasks.base.Task"):
        _build(config)
