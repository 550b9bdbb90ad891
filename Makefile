# make demo  - run the demo (sets itself up)
# make test  - lint, import contracts and every test (sets itself up, installs Prometheus, tmux and helm)
# make test-cluster - the engine's scenarios against a real cluster (GITOPSCTL_TEST_KUBECONFIG=...)

VENV   ?= .venv
PYTHON ?= python3
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install prometheus tmux helm lint test test-cluster demo bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

prometheus:
	@bash scripts/ensure-prometheus

tmux:
	@bash scripts/ensure-tmux

# helm for Helm apps: on PATH, or fetched to .tools/bin/helm with its sha256 checked (docs/helm.md)
helm:
	@bash scripts/ensure-helm

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

test: install prometheus tmux helm lint
	$(BIN)/pytest

# engine scenarios against a real cluster: GITOPSCTL_TEST_KUBECONFIG=/path/to/kubeconfig (docs/real-clusters.md)
test-cluster: install
	$(BIN)/pytest tests/cluster

demo: install helm
	$(BIN)/gitopsctl demo

bench: install
	$(BIN)/python bench/sandbox_api.py
	$(BIN)/python bench/drift_scan.py
	$(BIN)/python bench/abort_latency.py
	$(BIN)/python bench/slack_ack.py
	$(BIN)/python bench/drift_latency.py
	$(BIN)/python bench/git_to_applied.py
	$(BIN)/python bench/serve_footprint.py
	$(BIN)/python bench/tui_refresh.py
	$(BIN)/python bench/tui_diff.py
	$(BIN)/python bench/demo_timeline.py
	$(BIN)/python bench/chaos_soak.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
