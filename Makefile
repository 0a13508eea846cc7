# Everything a fresh machine with only python3 needs: uv is installed on first use,
# then the pinned set from requirements.lock goes into .venv.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
UV_VERSION := 0.13.8
RUN := $(UV) run --no-sync
PYTEST_ARGS ?=
export LITELLM_LOCAL_MODEL_COST_MAP := True
export DSP_CACHEBOOL := false

.PHONY: help uv install lock test test-fast lint demo synth bench screenshot clean

help:
	@echo "make demo   run the pipeline on an example and show its trace"
	@echo "make test   run every test (unit, integration, infra)"
	@echo "make synth  synthesize the CDK stacks into cdk.out/"
	@echo "make bench  run the benchmarks and write benchmarks/results.json"
	@echo "make screenshot  retake docs/phoenix-trace.png (installs Debian's chromium if missing)"
	@echo "make lock   re-resolve and export requirements*.lock after changing pyproject.toml"

uv:
	@$(UV) --version >/dev/null 2>&1 || { echo "==> installing uv $(UV_VERSION)"; python3 -m pip install --quiet "uv==$(UV_VERSION)"; }

.venv/.installed: requirements.lock pyproject.toml | uv
	@echo "==> installing pinned dependencies into .venv (first run takes a minute)"
	@$(UV) venv --quiet --allow-existing --python 3.11 .venv
	@$(UV) pip install --quiet --python .venv/bin/python -r requirements.lock
	@touch $@

install: .venv/.installed

lock: uv
	$(UV) lock
	$(UV) export --quiet --no-hashes --all-groups --output-file requirements.lock
	$(UV) export --quiet --no-hashes --no-default-groups --no-emit-project --output-file requirements-runtime.lock

test: install lint
	$(RUN) pytest $(PYTEST_ARGS)

test-fast: install
	$(RUN) pytest -m "not slow" $(PYTEST_ARGS)

lint: install
	$(RUN) ruff check service tests infra benchmarks scripts

demo: install
	@# Phoenix is in the `local` dependency group, which requirements.lock (and so `install`) includes.
	$(RUN) agentcreator demo

# The README's picture of the demo trace in Phoenix; needs headless Chromium (Debian's, installed here if missing).
screenshot: install
	@command -v chromium >/dev/null 2>&1 || { echo "==> installing chromium"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	$(RUN) python scripts/screenshot_demo.py --output docs/phoenix-trace.png

synth: install
	$(RUN) python infra/app.py

bench: install
	$(RUN) python -m benchmarks.run

clean:
	rm -rf .venv cdk.out .demo .pytest_cache
