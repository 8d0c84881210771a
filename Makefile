# Veracity — one entry point for set-up, the demo, tests, benchmarks and builds.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LOCK := requirements.lock
# "pyc": the environment is installed with its bytecode (see setup)
STAMP := $(VENV)/.installed-pyc-$(shell sha256sum $(LOCK) pyproject.toml 2>/dev/null | sha256sum | cut -c1-16)
PYTEST_ARGS ?=
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1
export GX_ANALYTICS_ENABLED := false
# glibc otherwise hands large activations back to the OS after every forward pass: the values of
# veracity/allocator.py, which pipeline steps and the predictor also apply to themselves
export MALLOC_MMAP_MAX_ ?= 0
export MALLOC_TRIM_THRESHOLD_ ?= 17179869184

.PHONY: setup demo test test-all bench lint format compile serve clean lock

setup: $(STAMP)

$(STAMP): $(LOCK) pyproject.toml
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m pip install -q uv
	@command -v ffmpeg >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null) || echo "warning: ffmpeg missing; install it for mp3/ogg/video input"; }
	@command -v fluidsynth >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends fluidsynth timgm6mb-soundfont >/dev/null) || echo "warning: fluidsynth missing; the music demo corpus needs it (apt-get install fluidsynth timgm6mb-soundfont)"; }
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null) || echo "warning: chromium missing; the job page's browser test is skipped (apt-get install chromium chromium-driver)"; }
	@[ -x $(BIN)/python ] || uv venv -q --python 3.11 $(VENV)
	@# bytecode at install time: with PYTHONDONTWRITEBYTECODE set (common in containers) every
	@# step process would compile torch, MLflow and the rest from source, ~12 CPU-s each
	uv pip sync -q --compile-bytecode --python $(BIN)/python $(LOCK)
	uv pip install -q --compile-bytecode --python $(BIN)/python --no-deps -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

lock:
	uv pip compile -q pyproject.toml --extra dev --python-version 3.11 -o $(LOCK)
	@# facenet-pytorch (MTCNN weights for video) pins torch<2.3/numpy<2: pinned by hand, synced alone
	printf 'facenet-pytorch==2.6.0\n    # added by hand, installed without its dependencies (docs/video.md)\n' >> $(LOCK)

demo: setup
	@$(BIN)/python -m compileall -q -j 0 src components pipelines >/dev/null  # the repo's own bytecode
	$(BIN)/veracity demo

test: setup
	$(BIN)/python -m pytest -m "not slow" -q --durations=25 $(PYTEST_ARGS)

test-all: setup
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: setup
	$(BIN)/python -m benchmarks

lint: setup
	$(BIN)/ruff check src tests components pipelines serving benchmarks
	$(BIN)/ruff format --check src tests components pipelines serving benchmarks

format: setup
	$(BIN)/ruff format src tests components pipelines serving benchmarks
	$(BIN)/ruff check --fix src tests components pipelines serving benchmarks

compile: setup
	$(BIN)/veracity pipeline compile

serve: setup
	$(BIN)/veracity serve

clean:
	rm -rf $(VENV) .pytest_cache build dist
