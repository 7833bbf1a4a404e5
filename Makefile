# Two entry points (see README): `make demo` runs the main job, `make test` the full gate.
# Both create .venv on first use. torch is pinned first to the CPU build found on these
# machines; elsewhere pass the CPU wheel index, e.g.
#   make test TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
PYTEST_ARGS ?=
# install (default): the Debian packages some tests use, when root or password-less sudo
# allows; skip: the Python-only run (tests needing them are skipped, with a summary line).
SYSTEM_PACKAGES ?= install

.PHONY: demo test system-packages lint typecheck contracts unit bench install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)" $(TORCH_PIP_ARGS)
	$(BIN)/python -m pip install -q -e ".[test]"
	# QuickFIX (interop tests only): vendored prebuilt wheel, else a cached source build
	$(BIN)/python -m pip install -q --no-deps vendor/wheels/quickfix-*.whl 2>/dev/null \
		|| $(BIN)/python -m pip install -q "quickfix==1.16.0"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/rlexec demo

system-packages:
	RLEXEC_SYSTEM_PACKAGES=$(SYSTEM_PACKAGES) scripts/install_system_packages.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

contracts: $(STAMP)
	$(BIN)/lint-imports

unit: $(STAMP)
	$(BIN)/python -m pytest -n auto --dist loadfile $(PYTEST_ARGS)

test: system-packages lint typecheck contracts unit

bench: $(STAMP)
	for b in bench/*_bench.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
