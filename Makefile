# Everything a fresh machine with only a Python 3.11-3.13 needs: scripts/bootstrap.sh puts the pinned
# uv into .tools/ (never into the system's Python), then the pinned set of requirements.lock into .venv
# with the interpreter it found. CDK's Node.js comes from that set when the machine has none recent enough.
SHELL := /bin/bash
UV := .tools/bin/uv
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
	@scripts/bootstrap.sh uv

.venv/.installed: requirements.lock pyproject.toml scripts/bootstrap.sh
	@scripts/bootstrap.sh venv
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
	rm -rf .venv .tools cdk.out .demo .pytest_cache
