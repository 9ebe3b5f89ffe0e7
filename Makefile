# One command sets up and runs the main job, one sets up and runs the tests.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup run test lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

GOAL ?= a red circle on the left and a blue square on the right, on a white background

run: setup
	$(PY) -m pakati agent "$(GOAL)" --out outputs/agent.png --overwrite

lint: setup
	$(PY) -m ruff check pakati pakati_engine agents tools graphs evals tests benchmarks examples
	$(PY) -m ruff format --check pakati pakati_engine agents tools graphs evals tests benchmarks examples
	$(PY) -m mypy pakati pakati_engine agents tools graphs evals benchmarks examples

test: lint
	$(PY) -m pytest -q

bench: setup
	$(PY) benchmarks/regional_cost.py
	$(PY) benchmarks/delta_cost.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
