# Two commands on a fresh machine:  make demo  (set up, run the study)  and  make test.
# make docs builds the documentation site into site/ (as CI does, with --strict).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# pyproject asks for torch>=2.2. Where pip can see the CPU build of 2.13.0 (a local wheel
# here) take it: a bare torch requirement would pull a multi-GB CUDA build instead.
TORCH_CPU ?= torch==2.13.0+cpu

.PHONY: setup demo test lint docs bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q "$(TORCH_CPU)" \
		|| echo "no CPU wheel $(TORCH_CPU) here: pip takes torch from pyproject's range"
	$(BIN)/pip install -q -e ".[dev,docs]"
	touch $@

demo: setup
	$(BIN)/rnnlab demo --out runs/demo

test: setup
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check src tests benchmarks

# NO_MKDOCS_2_WARNING: Material prints a banner about its successor on every build.
docs: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

bench: setup
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) runs site .pytest_cache
