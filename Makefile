# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# torch is pinned and installed first: an unpinned torch pulls a multi-GB CUDA build.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
TORCH   := torch==2.13.0

.PHONY: demo test test-all system-deps bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/obliviate demo

# What the tests drive besides Python (headless Chromium; PostgreSQL's server binaries, from which the ledger
# tests start a throwaway cluster): installed with apt-get when missing.
system-deps:
	bash scripts/system-deps.sh

# The default run leaves out tests marked `slow`; `make test-all` runs them too.
test: $(STAMP) system-deps
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

test-all: $(STAMP) system-deps
	$(BIN)/python -m pytest -q -m "" -n 2 --dist loadfile

bench: $(STAMP)
	for f in bench/[!_]*.py; do echo "== $$f"; OMP_NUM_THREADS=1 $(BIN)/python $$f || exit 1; done

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

clean:
	rm -rf $(VENV) runs build *.egg-info src/*.egg-info
