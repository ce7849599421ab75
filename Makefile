# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.kiln-installed
PYTEST_WORKERS ?= 2

.PHONY: venv demo test test-fast test-all lint clean

venv: $(STAMP)

$(STAMP): pyproject.toml setup.py requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

demo: venv
	$(PY) -m kiln demo

lint: venv
	$(PY) -m ruff check .

test: venv lint
	$(PY) -m pytest -n $(PYTEST_WORKERS) -m "not slow" tests

test-fast: venv
	$(PY) -m pytest -x -q -m "not slow and not rtl and not fpga" tests

test-all: venv lint
	$(PY) -m pytest -n $(PYTEST_WORKERS) tests

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
