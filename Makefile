# Bootstraps .venv on a fresh machine; `make demo` runs the main job, `make test` every test.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck bench-overhead clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# The CPU build of torch (for the semantic extra) first: left to the resolver, a
	@# bare torch requirement pulls a multi-GB CUDA build.
	$(BIN)/python -m pip install --quiet 'torch==2.13.0'
	$(BIN)/python -m pip install --quiet -e '.[all,dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/orch demo

lint: $(STAMP)
	$(BIN)/ruff check patterns adapters distributed tests benchmarks notebooks

typecheck: $(STAMP)
	$(BIN)/mypy patterns adapters distributed

test: lint typecheck
	$(BIN)/pytest -q --durations=15

bench-overhead: $(STAMP)
	$(BIN)/python benchmarks/overhead.py

clean:
	rm -rf $(VENV) .orch .pytest_cache .mypy_cache .ruff_cache
