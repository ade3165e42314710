# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# torch is pinned and installed first: an unpinned torch pulls a multi-GB CUDA build.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
TORCH   := torch==2.13.0

.PHONY: demo test test-all bench lint clean postgres

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/obliviate demo

# The ledger tests start a throwaway PostgreSQL cluster (tests/ledger/conftest.py) from Debian's server binaries.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || { \
	  echo "installing Debian's postgresql (server binaries for the ledger tests)"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postgresql >/dev/null; }

test: $(STAMP) postgres
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

test-all: $(STAMP) postgres
	$(BIN)/python -m pytest -q -m "" -n 2 --dist loadfile

bench: $(STAMP)
	for f in bench/*.py; do echo "== $$f"; OMP_NUM_THREADS=1 $(BIN)/python $$f || exit 1; done

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

clean:
	rm -rf $(VENV) runs build *.egg-info src/*.egg-info
