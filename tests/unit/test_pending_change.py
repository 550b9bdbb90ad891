"""What a Git change changes, from plain values: whether it may skip approvals, what quarantine knows it by."""

from __future__ import annotations

import copy

import pytest

from gitopsctl.release.deliveries import Change
from gitopsctl.sync.pending import changes_what_runs, template_digest, workload

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "prod", "labels": {"app": "web"}},
    "spec": {
        "replicas": 3,
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "r/web:v1"}]},
        },
    },
}
CONFIG = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "prod"}, "data": {"a": "1"}}


def edited(obj: dict, change) -> dict:
    copied = copy.deepcopy(obj)
    change(copied)
    return copied


@pytest.mark.parametrize(
    ("after", "runs"),
    [
        ([DEPLOYMENT, CONFIG], False),
        ([edited(DEPLOYMENT, lambda d: d["metadata"]["labels"].update(team="x")), CONFIG], False),
        ([edited(DEPLOYMENT, lambda d: d["metadata"].setdefault("annotations", {}).update(note="y")), CONFIG], True),
        ([edited(DEPLOYMENT, lambda d: d["spec"].update(replicas=4)), CONFIG], True),
        ([edited(DEPLOYMENT, lambda d: d["spec"]["template"]["metadata"]["labels"].update(v="2")), CONFIG], True),
        ([DEPLOYMENT, edited(CONFIG, lambda c: c["data"].update(a="2"))], True),
        ([DEPLOYMENT], True),  # an object removed
        ([DEPLOYMENT, CONFIG, edited(CONFIG, lambda c: c["metadata"].update(name="cfg2"))], True),  # one added
    ],
    ids=["same", "label", "annotation", "replicas", "template-label", "config-data", "removed", "added"],
)
def test_only_a_relabel_does_not_change_what_runs(after, runs):  # annotations may (a public load balancer)
    assert changes_what_runs([DEPLOYMENT, CONFIG], after) is runs


def test_the_workload_is_the_deployment_running_the_apps_container():
    other = edited(DEPLOYMENT, lambda d: d["spec"]["template"]["spec"]["containers"][0].update(name="sidecar"))
    assert workload([CONFIG, other, DEPLOYMENT], "web") is DEPLOYMENT
    assert workload([CONFIG, other], "web") is None


def test_the_template_digest_follows_the_pod_template_only():
    scaled = edited(DEPLOYMENT, lambda d: d["spec"].update(replicas=9))
    with_env = edited(DEPLOYMENT, lambda d: d["spec"]["template"]["spec"]["containers"][0].update(env=[]))
    assert template_digest(scaled) == template_digest(DEPLOYMENT) != template_digest(with_env)


@pytest.mark.parametrize(
    ("version", "previous", "names", "shown"),
    [
        ("v2", "v1", ["v2", "template-abc"], "v2"),
        ("v1", "v1", ["template-abc"], "v1 (pod template abc)"),  # the tag kept: known by its template only
        ("v1", None, ["v1", "template-abc"], "v1"),
    ],
)
def test_quarantine_knows_a_change_by_its_new_tag_and_always_its_template(version, previous, names, shown):
    change = Change(version, previous, "abc", runs=True, canary=False)
    assert (change.names, change.shown) == (names, shown)
