# The two commands of the README are the contract: `make demo` and `make test` each do
# all of their set-up on a fresh machine (a project venv in .venv, and, when run as root,
# the Debian packages the conformance and QEMU tests need).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
PYTEST_ARGS ?=

.PHONY: all setup sysdeps demo test lint fmt typecheck pytest bench clean

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m compileall -q src
	touch $@

setup: $(STAMP)

# Python bindings that compile against Debian's headers (libsystemd-dev, which sysdeps
# installs as root): built when the headers are there; the tests that use them skip
# otherwise (and fail under CI=true).
$(TEST_STAMP): $(STAMP) | sysdeps
	@if pkg-config --exists libsystemd 2>/dev/null; then \
	  $(BIN)/python -m pip install --quiet 'systemd-python==235' && touch $@; \
	else \
	  echo "make: libsystemd-dev is missing; systemd-python not installed (its tests skip)" >&2; \
	fi

sysdeps:
	@bash scripts/ensure-system-packages

demo: setup
	$(BIN)/python examples/webapp/demo.py

test: setup sysdeps $(TEST_STAMP) lint pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: setup
	$(BIN)/mypy

# pytest exits 5 when it collected no test: for this project that is a broken suite.
pytest: setup
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no test" >&2; exit 1; fi; \
	exit $$rc

bench: setup
	$(BIN)/python benchmarks/singleflight.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build src/*.egg-info
