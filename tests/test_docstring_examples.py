"""Every docstring Example (`>>>`) of the library and the benchmarks runs and prints what it
says: one test per module that holds examples.

Examples may assume `import jax`, `import jax.numpy as jnp` and `import numpy as np`; they
import anything else themselves. `# doctest: +SKIP` is kept for what cannot run offline
(pretrained weights to download, torchvision).

Examples run eagerly: every primitive compiles on its first shapes, so XLA's optimization
passes are turned off while they run (``jax_disable_most_optimizations``, the state restored
after each module); results are the same to the digits an example prints.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("jaxvision", "benchmarks")
ASSUMED_IMPORTS = {"jax": jax, "jnp": jnp, "np": np}


def _modules_with_examples() -> list[str]:
    names = []
    for package in PACKAGES:
        for info in pkgutil.walk_packages([str(ROOT / package)], prefix=f"{package}."):
            path = ROOT / (info.name.replace(".", "/") + ".py")
            if not path.is_file():
                path = path.with_suffix("") / "__init__.py"
            if ">>>" in path.read_text():
                names.append(info.name)
    return sorted(names)


MODULES = _modules_with_examples()


def test_the_examples_are_found():
    # A walk that finds nothing would pass every parametrized case vacuously.
    assert len(MODULES) >= 40, MODULES
    assert "jaxvision.ops.nms" in MODULES and "benchmarks.throughput" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = [t for t in finder.find(module, name, extraglobs=ASSUMED_IMPORTS) if t.examples]
    assert tests, f"{name} mentions '>>>' but holds no example doctest can run"
    before = jax.config.values["jax_disable_most_optimizations"]
    jax.config.update("jax_disable_most_optimizations", True)
    try:
        for test in tests:
            runner.run(test)
    finally:
        jax.config.update("jax_disable_most_optimizations", before)
    results = runner.summarize(verbose=False)
    assert results.failed == 0, f"{results.failed} of {results.attempted} examples failed in {name}"
