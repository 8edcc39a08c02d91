"""Tests of jaxvision.engine.malloc_tuning (huge pages for the heap via GLIBC_TUNABLES)."""

import os
import subprocess
import sys
from pathlib import Path

from jaxvision.engine import malloc_tuning

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_tuned_environ_adds_hugetlb_and_keeps_the_rest():
    env = malloc_tuning.tuned_environ({"PATH": "/bin"}, platform="linux")
    assert env == {"PATH": "/bin", "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}
    env = malloc_tuning.tuned_environ({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}, "linux")
    assert env["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"


def test_user_setting_opt_out_and_other_platforms_win():
    mine = {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}
    assert malloc_tuning.tuned_environ(mine, "linux") == mine
    off = {"JAXVISION_MALLOC_TUNING": "0"}
    assert malloc_tuning.tuned_environ(off, "linux") == off
    assert malloc_tuning.tuned_environ({}, "darwin") == {}


def test_reexec_sets_the_tunable_once():
    # A module that re-executes itself, then reports what glibc was asked for.
    code = (
        "import os, sys\n"
        "from jaxvision.engine import malloc_tuning\n"
        "if __name__ == '__main__':\n"
        "    malloc_tuning.reexec_with_tuned_malloc('reexec_probe', sys.argv[1:])\n"
        "    print(os.environ.get('GLIBC_TUNABLES'), sys.argv[1:], os.getpid())\n"
    )
    probe_dir = REPO_ROOT / ".pytest_cache" / "malloc_probe"
    probe_dir.mkdir(parents=True, exist_ok=True)
    (probe_dir / "reexec_probe.py").write_text(code)
    env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES",)}
    env["PYTHONPATH"] = os.pathsep.join([str(probe_dir), str(REPO_ROOT)])
    env.pop("JAXVISION_MALLOC_TUNING", None)
    out = subprocess.run(
        [sys.executable, "-m", "reexec_probe", "--flag=1"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    expected = "glibc.malloc.hugetlb=1" if sys.platform.startswith("linux") else "None"
    assert out[0] == expected
    assert out[1] == "['--flag=1']"
