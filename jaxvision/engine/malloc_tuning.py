"""Transparent huge pages for the process heap (glibc), set by the entry points at start-up.

XLA:CPU allocates each step's buffers afresh. glibc serves large blocks with `mmap`, and every
4 KiB page of a fresh mapping faults on first touch. So an elementwise op over a 32 MiB
activation costs 17-20 ms, most of it page faults; it costs 8.5 ms when the heap asks for
2 MiB transparent huge pages (`glibc.malloc.hugetlb=1`, glibc >= 2.35, kernel THP in
"madvise" or "always" mode). On the project's 2-vCPU benchmark machine the tunable makes a
ResNet-18 train step at 64 px (batch 128) 10% faster (827 -> 750 ms). PyTorch gains from it
too, so the benchmarks run both frameworks with it (`benchmarks/RESULTS.md`).

glibc reads tunables once, at process start. So `python -m train` and `python -m train.predict`
re-execute themselves once with `GLIBC_TUNABLES` extended (`reexec_with_tuned_malloc`), and
the benchmarks pass `tuned_environ()` to their child processes. Set
`JAXVISION_MALLOC_TUNING=0` to opt out. Elsewhere than Linux nothing changes. Memory
use can grow by up to 2 MiB per live mapping.

Example:
  >>> env = tuned_environ({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"})
  >>> env["GLIBC_TUNABLES"]
  'glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1'
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

TUNABLES_VAR = "GLIBC_TUNABLES"
HUGETLB_TUNABLE = "glibc.malloc.hugetlb"
HUGETLB_SETTING = f"{HUGETLB_TUNABLE}=1"
OPT_OUT_VAR = "JAXVISION_MALLOC_TUNING"


def enabled(environ: Mapping[str, str] | None = None, platform: str | None = None) -> bool:
    """Whether to tune: on Linux, unless `JAXVISION_MALLOC_TUNING=0`."""
    environ = os.environ if environ is None else environ
    return (platform or sys.platform).startswith("linux") and environ.get(OPT_OUT_VAR) != "0"


def tuned_environ(
    environ: Mapping[str, str] | None = None, platform: str | None = None
) -> dict[str, str]:
    """A copy of `environ` (default `os.environ`) whose `GLIBC_TUNABLES` asks for huge pages.

    A hugetlb value the user already set is kept; other tunables are kept. When tuning is
    off (`enabled()` is False), an unchanged copy.

    Args:
      environ: the environment to extend.
      platform: `sys.platform` (for tests).

    Returns:
      The new environment, a dict.
    """
    env = dict(os.environ if environ is None else environ)
    if not enabled(env, platform):
        return env
    current = env.get(TUNABLES_VAR, "")
    names = {item.split("=", 1)[0] for item in current.split(":") if item}
    if HUGETLB_TUNABLE not in names:
        env[TUNABLES_VAR] = f"{current}:{HUGETLB_SETTING}" if current else HUGETLB_SETTING
    return env


def reexec_with_tuned_malloc(module: str, args: Sequence[str]) -> None:
    """Re-runs `python -m module *args` with `tuned_environ()`, unless it is already in effect.

    Call it first thing in an entry point's `if __name__ == "__main__":` block; it does not
    return when it re-executes (the process image is replaced, same PID).

    Args:
      module: the entry point's module, e.g. "train".
      args: its command-line arguments (`sys.argv[1:]`).
    """
    env = tuned_environ()
    if env == dict(os.environ):
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", module, *args], env)
