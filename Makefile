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

# every benchmark prints its figures, targets and ratios and exits 1 on a miss; all run, then the README's table
# is made from bench/results.json (bench/table.py), and make bench fails if any missed
# (the chaos soak runs 60 s of chaos here; bench/chaos_soak.py alone runs 300 s)
BENCHMARKS = sandbox_api drift_scan fleet_scale sync_vs_kubectl abort_latency slack_ack drift_latency git_to_applied \
	serve_footprint tui_refresh tui_diff demo_timeline kustomize_parity "chaos_soak --seconds 60"

bench: install prometheus helm
	@status=0; for b in $(BENCHMARKS); do set -- $$b; $(BIN)/python bench/$$1.py $${2:+"$$2" "$$3"} || status=1; done; \
	$(BIN)/python bench/table.py && exit $$status

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
