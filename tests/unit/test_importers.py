"""Importing Argo manifests: what each field becomes, what is a note, and what is refused (plain values, no cluster)."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitopsctl import config
from gitopsctl.errors import UsageError
from gitopsctl.importers import (
    ARGO_ROLLOUTS_KINDS,
    ARGOCD_KINDS,
    MAX_FILE_BYTES,
    Imported,
    Manifest,
    import_argo_rollouts,
    import_argocd,
    load_manifests,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "argo"
GIT = {"git_url": "https://git.example.com/gitops.git", "path": "apps/{app}/{env}"}


def fixture(*names: str, kinds=ARGO_ROLLOUTS_KINDS) -> list[Manifest]:
    return load_manifests([str(FIXTURES / name) for name in names], kinds, "argo-rollouts")


def manifests(*bodies: dict[str, Any]) -> list[Manifest]:
    return [Manifest("test.yaml", i, body) for i, body in enumerate(bodies, start=1)]


def lines(imported: Imported) -> list[str]:
    """Every note as the TOML shows it, with its manifest's kind and name."""
    return [f"{n.subject.split(' (')[0]}: {n.line()}" for n in imported.notes]


def assert_valid(imported: Imported) -> None:
    """The TOML reads back as the values, passes the parser, and carries every note as a comment."""
    assert tomllib.loads(imported.toml) == imported.config
    config.parse(imported.config)
    comments = {line.removeprefix("# ") for line in imported.toml.splitlines() if line.startswith("#")}
    assert {n.line() for n in imported.notes} <= comments


def rollout(steps: list[Any] | None = None, **canary: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"strategy": {"canary": {"steps": steps if steps is not None else [{"setWeight": 50}], **canary}}},
    }


def template(name: str = "success-rate", metric: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    metric = metric or {
        "name": name,
        "interval": "30s",
        "count": 3,
        "successCondition": "result[0] >= 0.99",
        "provider": {
            "prometheus": {"address": "http://prometheus:9090", "query": 'rate(x{service="{{args.service-name}}"}[1m])'}
        },
    }
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": {"name": name},
        "spec": {"args": [{"name": "service-name"}], "metrics": [metric], **spec},
    }


def analysis_step(*names: str, value: str = "web") -> dict[str, Any]:
    return {
        "analysis": {
            "templates": [{"templateName": n} for n in names],
            "args": [{"name": "service-name", "value": value}],
        }
    }


# ---------------------------------------------------------------- the background articles' manifests


def test_article_002_becomes_the_same_canary_environment_and_templates():
    imported = import_argo_rollouts(fixture("002-trade-service-application.yaml", "002-trade-service-rollout.yaml"))
    assert_valid(imported)
    values = imported.config
    assert values["git"] == {"url": "https://github.com/org/gitops-configs.git", "branch": "main"}
    assert values["environments"] == {
        "production": {
            "context": "in-cluster",
            "namespace": "production",
            "sync": "auto",
            "self_heal": True,
            "strategy": "canary",
        }
    }
    assert values["prometheus"] == {"url": "http://prometheus.monitoring:9090"}
    app = values["apps"]["trade-service"]
    assert app["path"] == "apps/trade-service" and "container" not in app  # the container is named after the app
    assert app["canary"] == {
        "traffic_router": "istio",
        "steps": [
            {"set_weight": 10},
            {"pause": "2m"},
            {"set_weight": 30},
            {"pause": "5m"},
            {"set_weight": 50},
            {"pause": "5m"},
            {"analysis": "success-rate"},
            {"analysis": "latency-check"},
            {"set_weight": 100},
        ],
    }
    assert values["analysis"]["templates"]["success-rate"] == {
        "provider": "prometheus",
        "query": 'sum(rate(http_requests_total{service="{{app}}",status!~"5.."}[1m]))\n/\n'
        'sum(rate(http_requests_total{service="{{app}}"}[1m]))',
        "interval": "30s",
        "count": 6,
        "failure_limit": 2,
        "success_condition": "result[0] >= 0.99",
        "failure_condition": "result[0] < 0.95",
    }
    latency = values["analysis"]["templates"]["latency-check"]
    assert (latency["success_condition"], latency["failure_condition"]) == ("result[0] <= 0.5", "result[0] >= 1.0")
    notes = lines(imported)
    for expected in (
        "Application trade-service: not imported: spec.source.helm.parameters (gitopsctl sets no values on helm's "
        "command line: put them in a values file listed in the app's values)",
        "Application trade-service: not imported: spec.syncPolicy.syncOptions[2] (PrunePropagationPolicy=foreground: "
        "no equivalent in gitopsctl)",
        "Application trade-service: not imported: spec.syncPolicy.retry (gitopsctl has no retry policy for a failed "
        "sync)",
        "Rollout trade-service: not imported: spec.strategy.canary.trafficRouting.istio.virtualServices (gitopsctl's "
        "istio router writes its own VirtualService, <Service>-gitopsctl, for the app's Service; it does not edit "
        "this one)",
        "Rollout trade-service: converted: spec.strategy.canary.steps[6].analysis (2 metrics, measured one after "
        "the other: a gitopsctl analysis step measures one)",
        "AnalysisTemplate success-rate: not imported: spec.metrics[0].successLimit (not an Argo Rollouts field, so "
        "Argo ignores it; gitopsctl's count is how many successful measurements pass)",
        # the article's background analysis names the templates without their argument: Argo cannot run it either
        "Rollout trade-service: not imported: spec.strategy.canary.analysis.templates[0].templateName "
        "(AnalysisTemplate success-rate has no metric gitopsctl can measure with these arguments: see its notes)",
    ):
        assert expected in notes
    assert "CreateNamespace" not in imported.toml and "ServerSideApply" not in imported.toml  # gitopsctl does both


def test_article_004_keeps_a_value_that_is_not_the_app_as_written():
    imported = import_argo_rollouts(fixture("004-rollout-example.yaml"), **GIT)
    assert_valid(imported)
    canary = imported.config["apps"]["rollout-example"]["canary"]
    assert canary == {
        "traffic_router": "istio",
        "background_analysis": ["success-rate"],
        "steps": [{"set_weight": 50}, {"pause": "10m"}],
    }
    query = imported.config["analysis"]["templates"]["success-rate"]["query"]
    assert 'destination_service=~"guestbook-svc.default.svc.cluster.local"' in query and "{{" not in query
    assert imported.config["analysis"]["templates"]["success-rate"]["success_condition"] == "result[0] >= 0.95"
    assert (
        "AnalysisTemplate success-rate: converted: {{args.service-name}} ('guestbook-svc.default.svc.cluster.local', "
        "the Rollout's value, written in)" in lines(imported)
    )


# ---------------------------------------------------------------- Argo Rollouts' own examples


def test_argos_basic_canary_maps_step_for_step_and_needs_no_router():
    imported = import_argo_rollouts(fixture("argo-rollouts-canary.yaml"), **GIT)
    assert_valid(imported)
    app = imported.config["apps"]["rollout-canary"]
    assert app["container"] == "rollouts-demo"
    assert app["canary"] == {
        "steps": [
            {"set_weight": 20},
            {"pause": {}},
            {"set_weight": 40},
            {"pause": "40s"},
            {"set_weight": 60},
            {"pause": "20s"},
            {"set_weight": 80},
            {"pause": "20s"},
        ]
    }
    assert imported.config["environments"] == {
        "default": {"context": "in-cluster", "namespace": "default", "strategy": "canary"}
    }
    assert (
        "Rollout rollout-canary: not imported: spec.template (a Rollout is not a Deployment: gitopsctl canaries "
        in ("\n".join(lines(imported)))
    )


@pytest.mark.parametrize(
    ("name", "router", "note"),
    [
        ("argo-rollouts-istio.yaml", {"traffic_router": "istio"}, "trafficRouting.istio.virtualServices"),
        ("argo-rollouts-nginx.yaml", {"traffic_router": "nginx"}, "trafficRouting.nginx.stableIngress"),
        ("argo-rollouts-smi.yaml", {}, "trafficRouting.smi (gitopsctl has no SMI router: traffic follows the replica"),
        ("gatewayapi-plugin.yaml", {"traffic_router": "gateway", "gateway": "eg"}, "gatewayAPI.httpRoute (gitopsctl's"),
    ],
)
def test_traffic_routers_gitopsctl_has_are_mapped_and_others_say_what_happens(name, router, note):
    imported = import_argo_rollouts(fixture(name), **GIT)
    assert_valid(imported)
    canary = imported.config["apps"]["rollouts-demo"]["canary"]
    assert {k: v for k, v in canary.items() if k in ("traffic_router", "gateway")} == router
    assert any(note in line for line in lines(imported))


def test_the_gateway_plugin_without_its_httproute_is_a_note_saying_what_to_add():
    only_rollout = [m for m in fixture("gatewayapi-plugin.yaml") if m.kind == "Rollout"]
    imported = import_argo_rollouts(only_rollout, **GIT)
    assert "traffic_router" not in imported.config["apps"]["rollouts-demo"]["canary"]
    assert any("pass HTTPRoute argo-rollouts-http-route's manifest too" in line for line in lines(imported))


def test_experiments_and_job_metrics_are_notes():
    imported = import_argo_rollouts(fixture("argo-rollouts-experiment-step.yaml"), **GIT)
    assert_valid(imported)
    assert imported.config["apps"]["rollout-experiment-step"]["canary"]["steps"] == [{"set_weight": 25}]
    assert "analysis" not in imported.config
    notes = lines(imported)
    assert (
        "Rollout rollout-experiment-step: not imported: spec.strategy.canary.steps[1].experiment (gitopsctl has no "
        "experiments; a judge step compares canary and stable)" in notes
    )
    assert (
        "AnalysisTemplate random-fail: not imported: spec.metrics[0] (its provider (job) is not one gitopsctl has: "
        "prometheus or web)" in notes
    )


def test_background_analysis_with_its_arguments_and_what_startingstep_becomes():
    imported = import_argo_rollouts(fixture("argo-rollouts-background-analysis.yaml"), **GIT)
    assert_valid(imported)
    canary = imported.config["apps"]["guestbook"]["canary"]
    assert canary["background_analysis"] == ["success-rate"]
    assert [s.get("set_weight") for s in canary["steps"] if "set_weight" in s] == [20, 40, 60, 80]
    template = imported.config["analysis"]["templates"]["success-rate"]
    assert template["interval"] == "5m" and template["failure_limit"] == 3 and "count" not in template
    notes = lines(imported)
    assert any("spec.strategy.canary.analysis.startingStep (gitopsctl measures background" in n for n in notes)
    assert any("converted: spec.metrics[0].count (none: Argo measures for as long" in n for n in notes)


def test_prometheus_and_web_templates_keep_what_gitopsctl_measures_and_note_the_rest():
    rollout_using_both = rollout(
        [
            {"setWeight": 20},
            analysis_step("success-rate", value="checkout"),
            {"analysis": {"templates": [{"templateName": "web-check", "clusterScope": True}]}},
        ]
    )
    imported = import_argo_rollouts(
        [
            *manifests(rollout_using_both),
            *fixture("argo-rollouts-prometheus-template.yaml", "argo-rollouts-web-template.yaml"),
        ],
        **GIT,
    )
    assert_valid(imported)
    templates = imported.config["analysis"]["templates"]
    assert templates["web-check"] == {
        "provider": "web",
        "query": "$.data.ok",
        "url": "http://my-server.com/api/v1/measurement?service=checkout",
        "count": 1,
        "success_condition": "result == true",
    }
    assert 'destination_service=~"checkout"' in templates["success-rate"]["query"]
    assert imported.config["apps"]["web"]["canary"]["steps"] == [
        {"set_weight": 20},
        {"analysis": "success-rate"},
        {"analysis": "web-check"},
    ]
    notes = lines(imported)
    for expected in (
        "AnalysisTemplate success-rate: not imported: spec.metrics[0].provider.prometheus.timeout (gitopsctl's "
        "queries time out after 10 s)",
        "AnalysisTemplate success-rate: not imported: spec.metrics[0].provider.prometheus.headers (gitopsctl sends "
        "Prometheus no extra headers)",
        "ClusterAnalysisTemplate web-check: not imported: spec.metrics[0].provider.web.headers (gitopsctl's web "
        "provider sends no headers)",
    ):
        assert expected in notes


# ---------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    ("arg", "query"),
    [
        ({"name": "service-name", "value": "web"}, 'rate(x{service="{{app}}"}[1m])'),
        ({"name": "service-name", "value": "shop"}, 'rate(x{service="{{namespace}}"}[1m])'),
        ({"name": "service-name", "value": "other"}, 'rate(x{service="other"}[1m])'),
        (
            {"name": "service-name", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            'rate(x{service="{{app}}"}[1m])',
        ),
    ],
)
def test_an_argument_is_gitopsctls_placeholder_when_it_is_the_apps_or_namespaces_name(arg, query):
    step = {"analysis": {"templates": [{"templateName": "success-rate"}], "args": [arg]}}
    imported = import_argo_rollouts(manifests(rollout([step]), template()), **GIT)
    assert imported.config["analysis"]["templates"]["success-rate"]["query"] == query


def test_the_pod_template_hash_has_no_equivalent_so_the_metric_is_not_imported():
    step = {
        "analysis": {
            "templates": [{"templateName": "success-rate"}],
            "args": [{"name": "service-name", "valueFrom": {"podTemplateHashValue": "Latest"}}],
        }
    }
    imported = import_argo_rollouts(manifests(rollout([{"setWeight": 10}, step]), template()), **GIT)
    assert imported.config["apps"]["web"]["canary"]["steps"] == [{"set_weight": 10}]
    assert any(
        "args.service-name, the Latest pod template hash, which gitopsctl's pods do not carry" in n
        for n in lines(imported)
    )


def test_one_template_with_two_sets_of_arguments_is_two_templates():
    steps = [analysis_step("success-rate", value="web"), {"setWeight": 50}, analysis_step("success-rate", value="api")]
    imported = import_argo_rollouts(manifests(rollout(steps), template()), **GIT)
    assert_valid(imported)
    assert imported.config["apps"]["web"]["canary"]["steps"][::2] == [
        {"analysis": "success-rate"},
        {"analysis": "success-rate-2"},
    ]
    assert imported.config["analysis"]["templates"]["success-rate-2"]["query"] == 'rate(x{service="api"}[1m])'


def test_prometheus_is_one_url_and_a_second_address_is_a_note():
    other = template("latency")
    other["spec"]["metrics"][0]["provider"]["prometheus"]["address"] = "http://other:9090"
    imported = import_argo_rollouts(
        manifests(rollout([analysis_step("success-rate", "latency")]), template(), other), **GIT
    )
    assert imported.config["prometheus"] == {"url": "http://prometheus:9090"}
    assert any(
        "provider.prometheus.address (http://other:9090: gitopsctl asks one Prometheus" in n for n in lines(imported)
    )


def test_conditions_are_copied_as_written():
    metric = copy.deepcopy(template()["spec"]["metrics"][0])
    metric["successCondition"] = "result[0] >= 0.99 && result[0] <= 1"
    metric["failureCondition"] = "isNaN(result)"
    imported = import_argo_rollouts(manifests(rollout([analysis_step("success-rate")]), template(metric=metric)), **GIT)
    written = imported.config["analysis"]["templates"]["success-rate"]
    assert (written["success_condition"], written["failure_condition"]) == (
        "result[0] >= 0.99 && result[0] <= 1",
        "isNaN(result)",
    )


def test_a_condition_gitopsctl_cannot_read_yet_is_never_rewritten():
    metric = copy.deepcopy(template()["spec"]["metrics"][0])
    metric["successCondition"] = "result == true"
    try:
        imported = import_argo_rollouts(
            manifests(rollout([analysis_step("success-rate")]), template(metric=metric)), **GIT
        )
    except UsageError as e:  # refused as a whole, quoting it: the output always passes config check
        assert "would not pass `gitopsctl config check`" in str(e) and '"result == true"' in str(e)
    else:
        assert imported.config["analysis"]["templates"]["success-rate"]["success_condition"] == "result == true"


def test_a_metric_without_count_or_interval_is_one_measurement_as_in_argo():
    metric = copy.deepcopy(template()["spec"]["metrics"][0])
    del metric["interval"], metric["count"]
    imported = import_argo_rollouts(manifests(rollout([analysis_step("success-rate")]), template(metric=metric)), **GIT)
    assert imported.config["analysis"]["templates"]["success-rate"]["count"] == 1


# ---------------------------------------------------------------- Argo CD


def test_argocd_applications_become_apps_in_one_environment_per_destination():
    imported = import_argocd(fixture("argocd-applications.yaml", "argocd-sources.yaml", kinds=ARGOCD_KINDS))
    assert_valid(imported)
    values = imported.config
    assert values["git"] == {"url": "https://github.com/argoproj/argocd-example-apps.git", "branch": "main"}
    assert values["environments"] == {
        "guestbook": {"context": "in-cluster", "namespace": "guestbook"},
        "plugins": {"context": "in-cluster", "namespace": "plugins", "sync": "auto"},
    }
    assert values["apps"] == {
        "guestbook": {"path": "guestbook", "environments": ["guestbook"], "ignore_differences": ["/spec/replicas"]},
        "kustomize-guestbook": {"path": "kustomize-guestbook", "environments": ["guestbook"]},
        "plugin-app": {"path": "plugins/kasane", "environments": ["plugins"]},
    }
    notes = lines(imported)
    for expected in (
        "Application guestbook: not imported: spec.syncPolicy.automated (environment guestbook also holds apps "
        "without it, and gitopsctl sets it per environment: it stays manual)",
        "Application guestbook: converted: spec.ignoreDifferences[0].jsonPointers (gitopsctl ignores them in every "
        "object of the app, not only in group apps, kind Deployment)",
        "Application guestbook: not imported: spec.ignoreDifferences[1].jqPathExpressions (gitopsctl ignores fields "
        "by JSON pointer only)",
        "Application guestbook: not imported: spec.syncPolicy.syncOptions[0] (Validate=false: no equivalent in "
        "gitopsctl)",
        "Application kustomize-guestbook: not imported: spec.source.kustomize (gitopsctl builds the path's "
        "kustomization.yaml as it is: put these options there)",
        "Application plugin-app: not imported: spec.source.plugin (gitopsctl runs no config management plugins: "
        "commit what the plugin renders)",
        "Application plugin-app: converted: spec.syncPolicy.automated (without prune, Argo CD keeps what Git no "
        "longer has; gitopsctl's sync prunes it (`sync --no-prune` once))",
    ):
        assert expected in notes
    assert any(n.startswith("Application prometheus: not imported: spec.sources (none has a path") for n in notes)
    assert "[apps.prometheus]" not in imported.toml


def test_an_application_in_another_repository_is_left_out():
    first, second = (
        yaml.safe_load(f"""
        apiVersion: argoproj.io/v1alpha1
        kind: Application
        metadata: {{name: {name}}}
        spec:
          source: {{repoURL: {repo}, path: {name}, targetRevision: release}}
          destination: {{name: prod-eu, namespace: shop}}
        """)
        for name, repo in (("web", "https://a.example/g.git"), ("api", "https://b.example/g.git"))
    )
    imported = import_argocd(manifests(first, second), env="prod")
    assert list(imported.config["apps"]) == ["web"]
    assert imported.config["git"] == {"url": "https://a.example/g.git", "branch": "release"}
    assert imported.config["environments"] == {"prod": {"context": "prod-eu", "namespace": "shop"}}
    assert any("https://b.example/g.git is not https://a.example/g.git" in n for n in lines(imported))


def test_env_names_one_destination_only():
    two = fixture("argocd-applications.yaml", "argocd-sources.yaml", kinds=ARGOCD_KINDS)
    with pytest.raises(UsageError, match="deploy to 2 destinations and --env names one environment"):
        import_argocd(two, env="prod")


# ---------------------------------------------------------------- hostile input


def write(tmp_path: Path, text: str | bytes, name: str = "in.yaml") -> str:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return str(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("apiVersion: v1\nkind: Service\nmetadata: {name: web}\n", r"in\.yaml document 1 is a Service, which"),
        ("---\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: x}\n", "document 2 is a Secret"),
        ("apiVersion: example.com/v1\nkind: Rollout\nmetadata: {name: web}\n", "expected argoproj.io/..."),
        ("- a\n- b\n", "document 1 is not a Kubernetes object"),
        ("kind: Rollout\napiVersion: argoproj.io/v1alpha1\n", r"document 1 \(Rollout\) has no metadata.name"),
        ("a: [b\n", "line 2 is not valid YAML"),
        ("!!python/object/apply:os.system ['true']\n", "is not valid YAML"),
        ("a: &a [*a]\n", "refers to itself through an alias"),
    ],
)
def test_manifests_are_refused_with_one_sentence_naming_file_and_document(tmp_path, text, message):
    with pytest.raises(UsageError, match=message):
        load_manifests([write(tmp_path, text)], ARGO_ROLLOUTS_KINDS, "argo-rollouts")


def test_a_file_over_1_mib_and_an_alias_bomb_are_refused(tmp_path):
    with pytest.raises(UsageError, match="larger than 1 MiB"):
        load_manifests([write(tmp_path, b"#" * (MAX_FILE_BYTES + 1))], ARGOCD_KINDS, "argocd")
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8)
    )
    with pytest.raises(UsageError, match="expands to more than 200,000 values through YAML aliases"):
        load_manifests([write(tmp_path, bomb)], ARGOCD_KINDS, "argocd")
    with pytest.raises(UsageError, match="is not UTF-8 text"):
        load_manifests([write(tmp_path, b"\xff\xfe")], ARGOCD_KINDS, "argocd")


@pytest.mark.parametrize(
    ("steps", "canary", "message"),
    [
        ([{"setWeight": 140}], {}, r"steps\[0\].setWeight must be a whole number from 0 to 100 \(got 140\)"),
        ([{"setWeight": "10"}], {}, r"steps\[0\].setWeight must be a whole number from 0 to 100 \(got '10'\)"),
        ([{"setWeight": True}], {}, r"steps\[0\].setWeight must be a whole number"),
        ([{"pause": {"duration": "2 minutes"}}], {}, r"steps\[0\].pause.duration '2 minutes' is not a duration"),
        ([{"pause": {"duration": -5}}], {}, r"steps\[0\].pause.duration must be seconds or a duration"),
        ([{"pause": "soon"}], {}, r"steps\[0\].pause must be a mapping \(got a string\)"),
        ("steps", {}, "steps must be a list"),
        ([], {"scaleDownDelaySeconds": "30"}, "scaleDownDelaySeconds must be a whole number of seconds"),
    ],
)
def test_bad_rollout_values_are_one_sentence_naming_the_field(steps, canary, message):
    with pytest.raises(UsageError, match=r"test\.yaml document 1 \(Rollout web\): spec\.strategy\.canary\." + message):
        import_argo_rollouts(manifests(rollout(steps, **canary)), **GIT)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("successCondition", 0.99, r"successCondition must be a string \(got a number\)"),
        ("failureCondition", ["result < 1"], r"failureCondition must be a string \(got a list\)"),
        ("interval", "fast", r"interval 'fast' is not a duration"),
        ("count", "many", r"count must be a whole number \(got 'many'\)"),
        ("failureLimit", 500, r"failureLimit must be from 0 to 100 for gitopsctl \(got 500\)"),
    ],
)
def test_bad_template_values_are_one_sentence_naming_the_field(field, value, message):
    metric = copy.deepcopy(template()["spec"]["metrics"][0]) | {field: value}
    with pytest.raises(
        UsageError, match=r"test\.yaml document 2 \(AnalysisTemplate success-rate\): spec\.metrics\[0\]\." + message
    ):
        import_argo_rollouts(manifests(rollout([analysis_step("success-rate")]), template(metric=metric)), **GIT)


def test_a_rollout_without_its_repository_says_what_to_pass():
    with pytest.raises(UsageError, match="pass --git-url URL and --path PATH, or the Argo CD Application named web"):
        import_argo_rollouts(manifests(rollout()))
    with pytest.raises(UsageError, match="--env 'Prod' is not a DNS label"):
        import_argo_rollouts(manifests(rollout()), env="Prod", **GIT)


def test_text_from_the_manifests_cannot_leave_its_comment_or_string():
    hostile = "x\n[git]\nurl = 'https://evil.example'\n"
    application = yaml.safe_load("""
    apiVersion: argoproj.io/v1alpha1
    kind: Application
    metadata: {name: web}
    spec:
      source: {repoURL: "https://a.example/g.git", path: web}
      destination: {server: "https://kubernetes.default.svc", namespace: shop}
    """)
    application["spec"]["syncPolicy"] = {"syncOptions": [hostile]}
    application["spec"]["source"]["path"] = "web'''\n[x]"
    imported = import_argocd(manifests(application))
    assert tomllib.loads(imported.toml) == imported.config
    assert imported.config["git"] == {"url": "https://a.example/g.git"}
    assert "x [git] url = 'https://evil.example'" in imported.toml  # one comment line


def test_a_refusal_quoting_a_hostile_name_is_still_one_line():
    body = rollout()
    body["metadata"]["name"] = "web\n\x1b[31mtrusted"
    with pytest.raises(UsageError) as refused:
        import_argo_rollouts(manifests(body))
    assert "\n" not in str(refused.value) and "\x1b" not in str(refused.value)


def test_one_router_is_taken_and_the_delay_kept_within_gitopsctls_limit():
    routing = {"istio": {"virtualService": {"name": "web-vs"}}, "nginx": {"stableIngress": "web"}, "smi": {}}
    imported = import_argo_rollouts(
        manifests(rollout(trafficRouting=routing, scaleDownDelaySeconds=900, maxSurge="25%")), **GIT
    )
    canary = imported.config["apps"]["web"]["canary"]
    assert (canary["traffic_router"], canary["scale_down_delay"]) == ("istio", "10m")
    notes = lines(imported)
    for expected in (
        "Rollout web: not imported: spec.strategy.canary.trafficRouting.nginx (gitopsctl routes through one router: "
        "istio was taken)",
        "Rollout web: converted: spec.strategy.canary.scaleDownDelaySeconds (gitopsctl keeps a canary's pods for 10m "
        "at most)",
        "Rollout web: not imported: spec.strategy.canary.maxSurge (gitopsctl scales the canary by traffic weight)",
    ):
        assert expected in notes
    plain = import_argo_rollouts(manifests(rollout(scaleDownDelaySeconds=30)), **GIT)
    assert "scale_down_delay" not in plain.config["apps"]["web"]["canary"]
    assert any("scaleDownDelaySeconds (gitopsctl's replicas router needs none" in n for n in lines(plain))


def test_an_app_without_a_rollout_in_an_environment_of_canaries_rolls_out_in_one_step():
    def application(name: str) -> dict[str, Any]:
        return {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": name},
            "spec": {
                "source": {"repoURL": "https://a.example/g.git", "path": f"apps/{name}"},
                "destination": {"server": "https://kubernetes.default.svc", "namespace": "shop"},
            },
        }

    imported = import_argo_rollouts(manifests(application("web"), application("api"), rollout()))
    assert_valid(imported)
    assert imported.config["environments"]["shop"]["strategy"] == "canary"
    assert imported.config["apps"]["web"]["canary"]["steps"] == [{"set_weight": 50}]
    assert imported.config["apps"]["api"] == {"path": "apps/api", "canary": {"steps": [{"set_weight": 100}]}}
    assert "app api: converted: (no Rollout) (its environment runs canaries, so it has one step to 100%" in (
        "\n".join(lines(imported))
    )
