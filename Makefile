# armature — the two commands: `make run` and `make test`. Everything they need is installed here.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: install run test lint typecheck pytest bench bench-peers clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e ".[all,dev]"
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/granian --interface asgi --host $(HOST) --port $(PORT) examples.app:app

lint: install
	$(BIN)/ruff check armature armature_ext tests loadtests examples docs
	$(BIN)/ruff format --check armature armature_ext

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test: lint typecheck pytest

bench: install
	$(BIN)/python loadtests/bench.py
	$(BIN)/python loadtests/bench_toon.py
	$(BIN)/python loadtests/bench_compression.py

bench-peers: install
	$(BIN)/uv pip install --quiet --target .bench-peers -r loadtests/requirements-peers.txt
	$(BIN)/python loadtests/bench.py --peers --peers-path .bench-peers --with starlette

clean:
	rm -rf $(VENV) build dist *.egg-info .mypy_cache .ruff_cache
