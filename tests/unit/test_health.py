"""Health rules per kind, as an on-call engineer reads them."""

from __future__ import annotations

import tomllib

import pytest

from gitopsctl import config
from gitopsctl.cluster.health import assess, overall, worst
from gitopsctl.config import ConfigError

API_VERSIONS = {"Deployment": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1", "Job": "batch/v1"}


def obj(kind: str, spec: dict | None = None, status: dict | None = None, generation: int = 1) -> dict:
    return {
        "apiVersion": API_VERSIONS.get(kind, "v1"),
        "kind": kind,
        "metadata": {"name": "x", "generation": generation},
        "spec": spec or {},
        "status": status or {},
    }


@pytest.mark.parametrize(
    ("live", "expected"),
    [
        (
            obj(
                "Deployment",
                {"replicas": 2},
                {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2},
            ),
            "Healthy",
        ),
        (obj("Deployment", {"replicas": 2}, {"observedGeneration": 1}, generation=2), "Progressing"),
        (
            obj(
                "Deployment",
                {"replicas": 2},
                {"observedGeneration": 1, "replicas": 3, "updatedReplicas": 2, "availableReplicas": 2},
            ),
            "Progressing",
        ),
        (
            obj(
                "Deployment",
                {"replicas": 2},
                {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 1},
            ),
            "Progressing",
        ),
        (
            obj(
                "Deployment",
                {"replicas": 2},
                {
                    "observedGeneration": 1,
                    "conditions": [
                        {
                            "type": "Progressing",
                            "status": "False",
                            "reason": "ProgressDeadlineExceeded",
                            "message": "timed out",
                        }
                    ],
                },
            ),
            "Degraded",
        ),
        (
            obj(
                "StatefulSet",
                {"replicas": 2},
                {"observedGeneration": 1, "readyReplicas": 2, "currentRevision": "a", "updateRevision": "a"},
            ),
            "Healthy",
        ),
        (obj("StatefulSet", {"replicas": 2}, {"observedGeneration": 1, "readyReplicas": 1}), "Progressing"),
        (
            obj(
                "StatefulSet",
                {"replicas": 2},
                {"observedGeneration": 1, "readyReplicas": 2, "currentRevision": "a", "updateRevision": "b"},
            ),
            "Progressing",
        ),
        (
            obj(
                "DaemonSet",
                {},
                {
                    "observedGeneration": 1,
                    "desiredNumberScheduled": 3,
                    "updatedNumberScheduled": 3,
                    "numberAvailable": 3,
                },
            ),
            "Healthy",
        ),
        (
            obj(
                "DaemonSet",
                {},
                {
                    "observedGeneration": 1,
                    "desiredNumberScheduled": 3,
                    "updatedNumberScheduled": 3,
                    "numberAvailable": 2,
                },
            ),
            "Progressing",
        ),
        (obj("Job", {}, {"conditions": [{"type": "Complete", "status": "True"}]}), "Healthy"),
        (
            obj("Job", {}, {"conditions": [{"type": "Failed", "status": "True", "message": "BackoffLimitExceeded"}]}),
            "Degraded",
        ),
        (obj("Job", {}, {"active": 1}), "Progressing"),
        (obj("Service", {"type": "ClusterIP"}), "Healthy"),
        (obj("Service", {"type": "LoadBalancer"}, {"loadBalancer": {}}), "Progressing"),
        (obj("PersistentVolumeClaim", {}, {"phase": "Bound"}), "Healthy"),
        (obj("PersistentVolumeClaim", {}, {"phase": "Pending"}), "Progressing"),
        (obj("PersistentVolumeClaim", {}, {"phase": "Lost"}), "Degraded"),
        (obj("ConfigMap"), "Healthy"),
        (None, "Missing"),
    ],
)
def test_health_by_kind(live, expected):
    assert assess(live).status == expected


def test_an_apps_health_is_its_worst_objects():
    assert worst(["Healthy", "Progressing"]) == "Progressing"
    assert worst(["Progressing", "Missing"]) == "Missing"
    assert worst(["Missing", "Degraded", "Healthy"]) == "Degraded"
    assert worst([]) == "Healthy"


def custom(api_version: str, kind: str, *conditions: tuple[str, str], **status) -> dict:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": "x", "generation": 1},
        "spec": {},
        "status": {**status, "conditions": [{"type": t, "status": s, "message": f"{t} is {s}"} for t, s in conditions]}
        if conditions or status
        else {},
    }


CERT, SECRET, WIDGET = "cert-manager.io/v1", "external-secrets.io/v1beta1", "example.com/v1"


@pytest.mark.parametrize(
    ("live", "expected", "message"),
    [
        # cert-manager: issuing first, then Ready decides (as Argo CD's check does)
        (custom(CERT, "Certificate", ("Ready", "False"), ("Issuing", "True")), "Progressing", "Ready is False"),
        (custom(CERT, "Certificate", ("Ready", "False")), "Degraded", "Ready is False"),
        (custom(CERT, "Certificate", ("Ready", "True")), "Healthy", "Ready is True"),
        (custom(CERT, "Certificate"), "Progressing", "waiting for status.conditions.Ready == 'True'"),
        (custom(SECRET, "ExternalSecret", ("Ready", "False")), "Degraded", "Ready is False"),
        (custom(SECRET, "ExternalSecret", ("Ready", "True")), "Healthy", "Ready is True"),
        # kstatus's conventions for a kind nothing knows
        (custom(WIDGET, "Widget"), "Healthy", "it has no status conditions, so it counts as Healthy"),
        (custom(WIDGET, "Widget", ("Ready", "True")), "Healthy", ""),
        (custom(WIDGET, "Widget", ("Ready", "False")), "Progressing", "not Ready: Ready is False"),
        (custom(WIDGET, "Widget", ("Available", "False")), "Progressing", "not Available: Available is False"),
        (custom(WIDGET, "Widget", ("Ready", "True"), ("Stalled", "True")), "Degraded", "Stalled is True"),
        (custom(WIDGET, "Widget", ("Ready", "True"), ("Reconciling", "True")), "Progressing", "Reconciling is True"),
        (custom(WIDGET, "Widget", ("Ready", "True"), observedGeneration=0), "Progressing", "observe generation 1"),
        (custom(WIDGET, "Widget", ("Synced", "True")), "Unknown", "add a check for example.com/Widget"),
        ({"apiVersion": WIDGET, "kind": "Widget", "metadata": {}, "status": "broken"}, "Healthy", "no status"),
        ({**custom(WIDGET, "Widget"), "status": {"conditions": ["not a map", 3]}}, "Healthy", "no status"),
    ],
)
def test_health_of_kinds_gitopsctl_does_not_build_in(live, expected, message):
    health = assess(live)
    assert health.status == expected
    assert message in health.message


def rules(text: str) -> dict:
    base = """
        [git]
        url = "/tmp/repo.git"
        [environments.dev]
        context = "dev"
        [apps.web]
        path = "apps/web/{env}"
    """
    return config.parse(tomllib.loads(base + text)).health


def test_checks_from_the_configuration_win_over_gitopsctls_own():
    configured = rules(
        """
        [health]
        "example.com/Widget" = "status.phase == 'Running'"
        [health."cert-manager.io/Certificate"]
        healthy = "status.conditions.Ready == 'True' && status.notAfter != nil"
        degraded = "status.conditions.Ready == 'False' && conditions.Ready.reason != 'Pending'"
        message = "'certificate: ' + (conditions.Ready?.message ?? 'no Ready condition')"
        """
    )
    assert assess({**custom(WIDGET, "Widget"), "status": {"phase": "Running"}}, configured).status == "Healthy"
    pending = assess({**custom(WIDGET, "Widget"), "status": {"phase": "Pending"}}, configured)
    assert (pending.status, pending.message) == ("Progressing", "waiting for status.phase == 'Running'")
    assert assess(custom(CERT, "Certificate", ("Ready", "True")), configured).status == "Progressing"
    failed = assess(custom(CERT, "Certificate", ("Ready", "False")), configured)
    assert (failed.status, failed.message) == ("Degraded", "certificate: Ready is False")
    other_group = custom("other.io/v1", "Certificate", ("Ready", "False"))
    assert assess(other_group, configured).status == "Progressing"  # kstatus, not cert-manager's check


def test_a_check_that_cannot_be_evaluated_is_unknown_and_says_why():
    configured = rules('[health]\n"example.com/Widget" = "status.replicas > 2"\n')
    health = assess({**custom(WIDGET, "Widget"), "status": {"replicas": "many"}}, configured)
    assert health.status == "Unknown" and "could not be evaluated" in health.message


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('[health]\n"certificate" = "true"', 'health.certificate: is not a kind: write "Kind" or "group/Kind"'),
        ('[health]\nWidget = "result > 1"', 'uses "result"; a health check may use apiVersion, conditions'),
        ('[health]\nWidget = "status.phase"', ""),  # a value still parses; it only decides when it is true
        ('[health]\nWidget = "1 + 2"', "gives a value, not true or false"),
        ('[health]\nWidget = "exec(status)"', "calls exec(), which health checks do not have"),
        ('[health.Widget]\ndegraded = "true"', "health.Widget.healthy: required key is missing"),
        (
            '[health.Widget]\nhealthy = "true"\nhealty = "x"',
            'health.Widget.healty: unknown key (did you mean "healthy"?)',
        ),
        ("[health]\nWidget = 3", "health.Widget: must be a string"),
    ],
)
def test_bad_health_checks_are_refused_with_their_key(text, problem):
    if not problem:
        assert "Widget" in rules(text)
        return
    with pytest.raises(ConfigError) as err:
        rules(text)
    assert any(problem in p for p in err.value.problems), err.value.problems


def test_an_apps_health_names_an_object_counted_healthy_without_conditions():
    widget = custom(WIDGET, "Widget")
    assert overall([("ConfigMap/a", obj("ConfigMap")), ("Widget/w", widget)]) == (
        "Healthy",
        "Widget/w: it has no status conditions, so it counts as Healthy",
    )
    bad = custom(CERT, "Certificate", ("Ready", "False"))
    assert overall([("Widget/w", widget), ("Certificate/c", bad)]) == ("Degraded", "Certificate/c: Ready is False")
