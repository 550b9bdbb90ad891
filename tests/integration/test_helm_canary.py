"""A Helm app through the canary: a deploy edits one line of its values file, the real Prometheus judges it."""

from __future__ import annotations

import git

from tests.conftest import require_helm
from tests.engine.test_helm import CHART

VALUES_PROD = """\
# production
replicas: 2
image:
  repository: registry.local/web
  tag: v1.0.0  # deploys write here
"""
APP = """
[apps.web]
path = "charts/web"
values = ["values-{env}.yaml"]
version_path = "values-{env}.yaml:image.tag"
environments = ["prod"]

[apps.web.canary]
steps = [{ set_weight = 50 }, { analysis = "success-rate" }, { set_weight = 100 }]
"""


def image(fleet, name: str) -> str | None:
    deployments = {d.metadata.name: d for d in fleet.apps.list_namespaced_deployment("trading-prod").items}
    return deployments[name].spec.template.spec.containers[0].image if name in deployments else None


def values_prod(fleet) -> str:
    return fleet.repo.read("charts/web/values-prod.yaml") + "\n"  # git show drops the last newline


def test_a_helm_app_is_promoted_through_its_analysis_and_a_bad_version_is_reverted_in_its_values_file(canary):
    require_helm()
    fleet = canary.fleet
    fleet.repo.commit({**CHART, "charts/web/values-prod.yaml": VALUES_PROD}, "the web chart")
    engine = fleet.reload(APP)
    engine.sync("web", "prod", wait=True, timeout=30)

    good = engine.deploy("web", "prod", "v1.1.0", actor="alice", wait=True, timeout=120)
    assert (good.status, good.rollout.phase) == ("Deployed", "Promoted"), good.message
    assert "analysis success-rate passed" in " | ".join(good.rollout.events)
    assert image(fleet, "web") == "registry.local/web:v1.1.0" and image(fleet, "web-canary") is None
    assert values_prod(fleet) == VALUES_PROD.replace("v1.0.0", "v1.1.0")

    bad = engine.deploy("web", "prod", "v1.2.0-bad", actor="alice", wait=True, timeout=120)
    assert (bad.status, bad.rollout.phase) == ("Aborted", "Aborted"), bad.message
    revert = git.Repo(fleet.repo.url).commit("main")
    assert revert.message.startswith("Roll back web prod to v1.1.0: success-rate")
    assert [d.b_path for d in revert.parents[0].diff(revert)] == ["charts/web/values-prod.yaml"]
    assert values_prod(fleet) == VALUES_PROD.replace("v1.0.0", "v1.1.0"), "the values file as before the deploy"
    assert image(fleet, "web") == "registry.local/web:v1.1.0" and image(fleet, "web-canary") is None
    assert engine.diff("web", "prod").in_sync
