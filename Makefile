# jaxvision: `make demo` trains the demo config on the CPU; `make test` runs lint and the test suite.
# Both create .venv and install everything they need on a fresh machine.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_WORKDIR ?= runs/demo
PYTEST_ARGS ?= -n 2

.PHONY: demo test lint format venv venv-test clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e ".[cpu]"
	touch $@

$(VENV)/.installed-test: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e ".[cpu,test]"
	touch $(VENV)/.installed $@

venv: $(VENV)/.installed
venv-test: $(VENV)/.installed-test

demo: $(VENV)/.installed
	rm -rf $(DEMO_WORKDIR)
	$(PY) -m train --config=train/configs/demo.py --workdir=$(DEMO_WORKDIR)
	@echo "predictions picture: $(DEMO_WORKDIR)/predictions.png"

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed-test
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: lint
	$(PY) -m pytest -q $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
