"""The conv-lowering benchmark: its gradients agree across frameworks, and its smoke run."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from benchmarks import conv_lowering
from jaxvision.ops.conv import DEFAULT_RULES
from train import host_tuning as compiler_options

CASES = conv_lowering.quick_cases()
# Every shape the benchmark can time, for the torch-side gradient identities (batch 2).
ALL_CASES = CASES + conv_lowering.transpose_cases() + conv_lowering.other_cases()


def _nchw(a: np.ndarray) -> np.ndarray:
    return np.transpose(a, (0, 3, 1, 2))


@pytest.mark.parametrize("case", ALL_CASES, ids=[f"{c.net}-{c.name}" for c in ALL_CASES])
def test_torch_gradients_alone_equal_autograd(case):
    x, w, ct = conv_lowering.torch_case_tensors(case, batch=2)
    f = torch.nn.functional
    xg, wg = x.clone().requires_grad_(True), w.clone().requires_grad_(True)
    if case.transpose:
        k, s = case.kernel, case.stride
        y = f.conv_transpose2d(
            xg, wg, stride=s, padding=(k - s + 1) // 2, output_padding=(k - s) % 2
        )
    else:
        y = f.conv2d(xg, wg, None, case.stride, case.pad, case.dilation, case.groups)
    dx, dw = torch.autograd.grad(y, (xg, wg), ct)
    grads = {name: fn() for name, fn in conv_lowering._torch_gradient_fns(case, x, w, ct).items()}
    assert sorted(grads) == (["dw"] if case.first else ["dw", "dx"])
    np.testing.assert_allclose(grads["dw"], dw, rtol=1e-5, atol=1e-4)
    if not case.first:
        np.testing.assert_allclose(grads["dx"], dx, rtol=1e-5, atol=1e-4)


def _case_impls():
    """(case, impl) of every quick case and every impl that computes it."""
    for case in CASES:
        for impl in conv_lowering.IMPLS:
            if impl != "winograd" or case.winograd:
                yield pytest.param(case, impl, id=f"{case.name}-{impl}")


def test_winograd_is_timed_where_it_applies_only():
    timed = [c.name for c in CASES if conv_lowering._jax_fns(c, "winograd")]
    assert timed == [c.name for c in CASES if c.kernel == 3 and c.stride == 1]
    assert timed and len(timed) < len(CASES)


@pytest.mark.parametrize("case,impl", _case_impls())
def test_jax_gradients_alone_equal_torch(case, impl):
    x, w, ct = conv_lowering._case_arrays(case, batch=2)
    fns = conv_lowering._jax_fns(case, impl, options={}, gradients=True)
    assert set(fns) == {"fwd", "fwd_bwd", "dw"} | (set() if case.first else {"dx"})
    tx, tw, tct = conv_lowering.torch_case_tensors(case, batch=2)
    # jaxvision's "SAME" transposed conv (like `lax.conv_transpose`) is torch's with a flipped
    # kernel where k - s is even, as in the quick case k4s2 (for k3s2 the outputs are shifted
    # by a pixel: the same work, so the timings compare all the same).
    flip = (lambda a: a[..., ::-1, ::-1]) if case.transpose else (lambda a: a)  # noqa: E731
    tw = torch.from_numpy(flip(tw.numpy()).copy())
    want = conv_lowering._torch_gradient_fns(case, tx, tw, tct)
    got_dw = np.asarray(fns["dw"](jnp.asarray(x), jnp.asarray(w), jnp.asarray(ct)))
    # torch's kernel: conv2d [cout, cin, k, k], conv_transpose2d [cin, cout, k, k]; ours HWIO.
    got_dw_torch = flip(np.transpose(got_dw, (2, 3, 0, 1) if case.transpose else (3, 2, 0, 1)))
    np.testing.assert_allclose(got_dw_torch, want["dw"](), rtol=1e-4, atol=1e-4)
    if not case.first:
        got_dx = np.asarray(fns["dx"](jnp.asarray(x), jnp.asarray(w), jnp.asarray(ct)))
        np.testing.assert_allclose(_nchw(got_dx), want["dx"](), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("case", CASES[:2], ids=[c.name for c in CASES[:2]])
def test_forward_backward_runs_the_forward_conv(case):
    """The forward conv is not dropped: the loss is linear in it, `jax.grad` alone would.
    (The "xla" impl: one XLA convolution a conv; "auto" sends these shapes to im2col dots.)"""
    x, w, ct = conv_lowering._case_arrays(case, batch=2)
    fns = conv_lowering._jax_fns(case, "xla", options={}, gradients=True)
    convs = {
        m: fn.lower(x, w, ct).compile().as_text().count("convolution(") for m, fn in fns.items()
    }
    assert convs["fwd"] == 1 and convs["dw"] == 1 and convs.get("dx", 1) == 1
    assert convs["fwd_bwd"] == (2 if case.first else 3)


def test_quick_run_with_gradients_under_the_engine_options(tmp_path, capsys):
    out = tmp_path / "conv.json"
    records = conv_lowering.main(["--quick", "--gradients", f"--json={out}"])
    assert [r["name"] for r in records] == [c.name for c in CASES]
    for record in records:
        for impl in (*conv_lowering.IMPLS, "torch"):
            times = record[impl]
            if impl == "winograd" and not (record["kernel"] == 3 and record["stride"] == 1):
                assert set(times.values()) == {None}  # not a conv Winograd computes
                continue
            assert times["fwd_ms"] > 0 and times["fwd_bwd_ms"] > 0 and times["dw_ms"] > 0
            if record["first"]:
                assert times["dx_ms"] is None and times["dx_gflops"] is None
            else:
                assert times["dx_ms"] > 0 and times["dx_gflops"] > 0
    saved = json.loads(out.read_text())
    assert saved["compiler_options"] == compiler_options.for_backend(jax.default_backend())
    assert "dx [xla im2col winograd auto torch]" in capsys.readouterr().out


def test_bad_options_exit():
    with pytest.raises(SystemExit):
        conv_lowering.main(["--quick", "--options=fast"])


def test_auto_runs_under_the_given_rules():
    """--rules reaches "auto": rules that send 8x8 outputs to im2col leave no XLA conv (on the
    CPU; elsewhere "auto" is XLA's conv under any rules)."""
    case = CASES[0]  # 8x8x16->32 k3s1
    x, w, ct = conv_lowering._case_arrays(case, batch=2)
    wider = dataclasses.replace(DEFAULT_RULES, im2col_max_out_pixels=64)
    convs = {}
    for name, rules in (("shipped", DEFAULT_RULES), ("wider", wider)):
        fwd = conv_lowering._jax_fns(case, "auto", options={}, rules=rules)["fwd"]
        convs[name] = fwd.lower(x, w, ct).compile().as_text().count("convolution(")
    assert convs == {"shipped": 1, "wider": 0 if jax.default_backend() == "cpu" else 1}
    assert conv_lowering.named_rules("no_winograd").winograd_min_channels == 2**31


@pytest.mark.parametrize("conv_impl", ["xla", DEFAULT_RULES])
def test_train_step_takes_the_conv_impl(conv_impl):
    step = conv_lowering.jax_train_step("resnet_tiny", 8, "cifar", 2, conv_impl, options={})
    step()  # compiles and runs one SGD step
    step()


@pytest.mark.parametrize("size", [128, 256])
def test_unet_plain_cases_follow_the_image_size(size):
    cases = conv_lowering.unet_plain_cases(size)
    assert (cases[0].size, cases[0].cin, cases[0].first) == (size, 3, True)
    assert (cases[-1].size, cases[-1].cout) == (size, 9)  # the head
    assert {c.size for c in cases} == {size >> i for i in range(5)}
    # a transposed conv's input is half the size of the conv after it
    for up, after in zip(cases[:-1], cases[1:], strict=True):
        if up.transpose:
            assert after.size == 2 * up.size and after.cin == 2 * up.cout
    assert len({c.net for c in cases}) == 1
