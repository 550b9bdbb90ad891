"""The suite's own safety: a cluster that looks like prod is refused, and each test's namespace is marked as a test's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.cluster.conftest import I_MEAN_IT_VAR, KUBECONFIG_VAR, TEST_LABEL, prod_problem

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]
ROOT = Path(__file__).resolve().parents[2]


def test_names_that_say_prod_are_refused_unless_someone_means_it():
    assert prod_problem("kind-kind", "kind-kind", {}) is None
    assert prod_problem("dev", "k3d-dev", {}) is None
    for context, cluster in (("prod", "c"), ("eu-Production", "c"), ("admin@ctx", "gke_acme_europe_prod-1")):
        problem = prod_problem(context, cluster, {})
        assert problem and problem.startswith(f"refusing to run the real-cluster suite against context {context!r}")
        assert I_MEAN_IT_VAR in problem
        assert prod_problem(context, cluster, {I_MEAN_IT_VAR: "1"}) is None
        assert prod_problem(context, cluster, {I_MEAN_IT_VAR: "yes"}) is not None


def test_a_run_against_a_context_named_prod_stops_before_touching_the_cluster(target, tmp_path):
    """The same cluster under a context named like prod: every test refused, none run, nothing created."""
    config = yaml.safe_load(target.kubeconfig.read_text())
    for context in config["contexts"]:
        if context["name"] == target.context:
            context["name"] = "team-prod"
    config["current-context"] = "team-prod"
    renamed = tmp_path / "kubeconfig"
    renamed.write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if k not in (I_MEAN_IT_VAR, "GITOPSCTL_TEST_CONTEXT")}
    env[KUBECONFIG_VAR] = str(renamed)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/cluster/test_sync.py", "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert run.returncode != 0, run.stdout
    assert "refusing to run the real-cluster suite against context 'team-prod'" in run.stdout, run.stdout
    assert " passed" not in run.stdout and "1 error" in run.stdout, run.stdout


def test_the_namespace_is_labelled_as_a_tests(cluster_fleet):
    ns = cluster_fleet.core.read_namespace(cluster_fleet.namespace)
    assert ns.metadata.name.startswith("gitopsctl-test-") and ns.metadata.labels.get(TEST_LABEL) == "true"
    places = {e.namespace for e in cluster_fleet.engine.config.environments.values()}
    assert places | {cluster_fleet.engine.config.serve.lease_namespace} == {cluster_fleet.namespace}
