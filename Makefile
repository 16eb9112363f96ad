# Two commands on a fresh machine:  `make serve` (the service on the shipped model)  and  `make test`.
# Each creates its own virtual environment from pyproject.toml on first use.
PYTHON ?= python3
VENV ?= .venv
SERVE_VENV ?= .venv-serve
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
DATA ?= ../shared/data/fer2013.csv.gz

.PHONY: test serve train lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[train,train-torch,service,batch,ray,dev]"
	touch $@

$(SERVE_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(SERVE_VENV)
	$(SERVE_VENV)/bin/python -m pip install -q --upgrade pip
	$(SERVE_VENV)/bin/python -m pip install -q -e ".[service]"
	touch $@

## test: the whole suite (installs what it needs first, system packages included)
test: $(VENV)/.installed
	scripts/install-test-deps.sh
	$(PY) -m pytest

## serve: the service on the shipped model (service extras only: no TensorFlow)
serve: $(SERVE_VENV)/.installed
	$(SERVE_VENV)/bin/fer-serve --host $(HOST) --port $(PORT)

## train: the shipped model's recipe on the shared FER2013 (hours on a 2-core CPU; resumable)
train: $(VENV)/.installed
	$(VENV)/bin/fer-train train --data $(DATA) --out runs/seed_cnn --epochs 60 --batch-size 64 --lr 1e-3 \
		--schedule cosine --warmup-epochs 2 --augment light --precision bf16 --seed 1 \
		$(if $(wildcard runs/seed_cnn/checkpoints/state.json),--resume,)

## bench: every benchmark side by side -> bench/results/<date>.json, docs/benchmarks.md and .png
## (BENCH_ARGS="--quick" for a smoke run, "--sections 1,2" for some, "--skip-peer" without the fer package)
bench: $(VENV)/.installed
	$(PY) -m bench $(BENCH_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) $(SERVE_VENV) .pytest_cache .mypy_cache .ruff_cache
