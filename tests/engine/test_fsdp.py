"""FSDP-style sharding of the train state over ``data``: the rule, and a step on 4 CPU devices.

A whole FSDP run over two processes, against the one-device run, is in
tests/engine/test_distributed.py."""

from __future__ import annotations

import json
import subprocess
import sys

import jax
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from jaxvision.engine import mesh as mesh_lib
from jaxvision.engine import sharding
from tests.engine import runs

DEVICES = 4
MIN_SIZE = 2**16


@pytest.mark.parametrize(
    "shape, expected",
    [
        ((3, 3, 128, 256), P(None, None, None, "data")),  # largest divisible dim
        ((3, 3, 256, 256), P(None, None, None, "data")),  # ties: the last one
        ((1000, 512), P("data", None)),  # a head kernel: its larger (input) dim
        ((1001, 512), P(None, "data")),  # 4 does not divide 1001: the next largest
        ((255, 257), P()),  # no dimension divisible: replicated
        ((128, 128), P()),  # 2**14 elements: below MIN_SIZE, replicated
        ((), P()),  # scalars (the step)
    ],
)
def test_fsdp_spec(shape, expected):
    assert sharding.fsdp_spec(shape, DEVICES, MIN_SIZE) == expected


def test_one_device_or_replicated_rule_replicates_everything():
    assert sharding.fsdp_spec((4096, 4096), 1, MIN_SIZE) == P()
    mesh = mesh_lib.make_mesh(jax.devices()[:1])
    tree = {"w": jax.ShapeDtypeStruct((4096, 4096), np.float32)}
    for rule in sharding.RULES:
        (got,) = jax.tree.leaves(sharding.state_shardings(tree, mesh, rule, MIN_SIZE))
        assert got.spec == P()


def test_unknown_rule_and_bad_min_size_raise():
    mesh = mesh_lib.make_mesh(jax.devices()[:1])
    with pytest.raises(ValueError, match="replicated, fsdp"):
        sharding.state_shardings({}, mesh, "zero3", MIN_SIZE)
    with pytest.raises(ValueError, match="fsdp_min_size"):
        sharding.state_shardings({}, mesh, "fsdp", -1)


# Run in a child with 4 forced CPU devices: init, a train step, eval and a checkpoint
# round trip of an FSDP state, through the engine's own functions.
CHILD = r"""
import json, sys
import grain, jax, numpy as np
from jaxvision.data import sources
from jaxvision.engine import build, sharding, steps
from jaxvision.engine import mesh as mesh_lib
from jaxvision.engine.checkpoint import Checkpointer, _leaves_by_path
from tests.engine import runs

data_dir, workdir = sys.argv[1:3]
config = runs.tiny_config(data_dir, sharding="fsdp")
mesh = mesh_lib.make_mesh()
_, meta = sources.open_split(config.dataset.name, config.dataset.train_split, data_dir)
setup = build.build(config, meta, mesh)
rng = np.random.default_rng(0)
local = {
    "image": rng.integers(0, 256, (16, 32, 32, 3)).astype(np.uint8),
    "label": (np.arange(16) % meta.num_classes).astype(np.int32),
}
batch = mesh_lib.global_batch(local, mesh)
state = build.init_state(setup, batch, jax.random.key(0))

def layout(tree):
    return {
        k: {"spec": [str(a) for a in v.sharding.spec], "shape": list(v.shape),
            "shard": list(v.addressable_shards[0].data.shape)}
        for k, v in _leaves_by_path(tree).items()
    }

shardings = sharding.shardings_of(state)
train_step = steps.compile_train_step(setup.task, mesh, state_sharding=shardings)
compiled = train_step.lower(state, batch, jax.random.key(1)).compile()  # compiled once
hlo = compiled.as_text()
collectives = {op: hlo.count(f" {op}(") for op in ("all-reduce", "reduce-scatter", "all-gather")}
state, metrics = compiled(state, batch, jax.random.key(1))
after_step = layout(state)
eval_step = steps.compile_eval_step(setup.task, setup.evaluators, mesh)
sums = eval_step(sharding.replicate(state.eval_variables(), mesh),
                 mesh_lib.global_batch({**local, "mask": np.ones(16, np.float32)}, mesh))
sums = sums["classification"]

ckpt = Checkpointer(workdir)
ckpt.save(1, state, iter(grain.MapDataset.range(4).to_iter_dataset()))
ckpt.wait()
fresh = build.init_state(setup, batch, jax.random.key(5))
restored = ckpt.restore_latest(fresh)
ckpt.close()
same = all(
    np.array_equal(np.asarray(a), np.asarray(b))
    for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(state), strict=True)
)
print(json.dumps({
    "initial": layout(fresh), "after_step": after_step, "restored": layout(restored),
    "restored_equal": same, "loss": float(metrics["loss"]), "eval_count": float(sums["count"]),
    "collectives": collectives,
}))
"""


@pytest.fixture(scope="module")
def child_report(tmp_path_factory, shapes_data_dir):
    workdir = tmp_path_factory.mktemp("fsdp_child")
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, shapes_data_dir, str(workdir / "ckpt")],
        cwd=runs.REPO,
        env=runs.child_env(DEVICES),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_large_leaves_are_sharded_over_data_and_small_ones_replicated(child_report):
    initial = child_report["initial"]
    sharded = {k: v for k, v in initial.items() if "data" in v["spec"]}
    # ResNetTiny: stage 4's two 3x3 kernels (64->128 and 128->128) reach 2**16 elements;
    # each has a momentum buffer of the same shape and sharding.
    assert sorted(sharded) == [
        "networks/model/opt_state/1/0/trace/stage4_block0/conv1/kernel",
        "networks/model/opt_state/1/0/trace/stage4_block0/conv2/kernel",
        "networks/model/params/stage4_block0/conv1/kernel",
        "networks/model/params/stage4_block0/conv2/kernel",
    ], sorted(sharded)
    for leaf in sharded.values():
        axis = leaf["spec"].index("data")
        assert leaf["shard"][axis] * DEVICES == leaf["shape"][axis]
        assert np.prod(leaf["shard"]) * DEVICES == np.prod(leaf["shape"])
    for name, leaf in initial.items():
        if name not in sharded:
            assert leaf["shard"] == leaf["shape"], name
            assert np.prod(leaf["shape"]) < MIN_SIZE or name.endswith("step"), name


def test_train_step_and_restore_keep_the_shardings(child_report):
    assert child_report["after_step"] == child_report["initial"]
    assert child_report["restored"] == child_report["initial"]
    assert child_report["restored_equal"]
    assert np.isfinite(child_report["loss"])
    assert child_report["eval_count"] == 16


def test_step_gathers_sharded_kernels_and_sums_gradients(child_report):
    # The SPMD partitioner gathers each sharded kernel for the forward pass (all-gather) and
    # sums gradients across the data axis. On XLA:CPU the sum is an all-reduce whose result
    # each device slices down to its shard: the CPU pipeline has no reduce-scatter creation
    # (19 all-reduces, 0 reduce-scatters for this ResNetTiny). GPU pipelines may fuse the
    # all-reduce and slice into a reduce-scatter; that is unchecked without a GPU.
    collectives = child_report["collectives"]
    assert collectives["all-gather"] >= 1, collectives
    assert collectives["all-reduce"] + collectives["reduce-scatter"] >= 1, collectives
