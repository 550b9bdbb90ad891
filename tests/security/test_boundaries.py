"""Issue 13, attack 2: one app's manifests may change only what its app/environment owns.

Each environment allows namespaces (its own by default) and cluster-scoped kinds
(none by default); an app may narrow its kinds; an object another app/environment
tracks is never adopted, changed or pruned.
"""

from __future__ import annotations

import textwrap
import tomllib

import git
import pytest
from kubernetes import client as k8s

from demo.seed import deployment_yaml
from gitopsctl import config
from gitopsctl.errors import ConfigError, ManifestError
from gitopsctl.sync import TRACKING_ANNOTATION
from tests.engine.conftest import all_objects

ATTACK = textwrap.dedent(
    """\
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: trade-service-config
      namespace: trading-prod
    data:
      LOG_LEVEL: trace
    ---
    {deployment}
    ---
    apiVersion: rbac.authorization.k8s.io/v1
    kind: ClusterRoleBinding
    metadata:
      name: dev-takes-the-cluster
    roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}}
    subjects:
      - {{kind: ServiceAccount, name: default, namespace: trading-dev}}
    ---
    apiVersion: v1
    kind: Namespace
    metadata:
      name: mining
    """
).format(
    deployment=deployment_yaml("ledger-worker", "attacker.example/miner:latest", 1).replace(
        "  name: ledger-worker\n", "  name: ledger-worker\n  namespace: trading-prod\n", 1
    )
)


def configure(fleet, env: dict[str, str] | None = None, app: dict[str, str] | None = None):
    """A fresh engine with lines added to [environments.ENV] (after its namespace) or [apps.APP]."""
    text = fleet.config_path.read_text()
    for name, line in (env or {}).items():
        anchor = f'namespace = "trading-{name}"\n'
        text = text.replace(anchor, anchor + line + "\n")
    for name, line in (app or {}).items():
        anchor = f'container = "{name}"\n'
        text = text.replace(anchor, anchor + line + "\n")
    fleet.config_path.write_text(text)
    return fleet.reload()


def tracking(fleet, kind: str, name: str, namespace: str) -> str:
    read = fleet.apps.read_namespaced_deployment if kind == "Deployment" else fleet.core.read_namespaced_config_map
    return read(name, namespace).metadata.annotations[TRACKING_ANNOTATION]


def absent(call, *args) -> bool:
    try:
        call(*args)
    except k8s.ApiException as e:
        return e.status == 404
    return False


def test_attack_2_dev_manifests_cannot_change_prod_or_the_cluster(fleet):
    fleet.engine.sync("trade-service", "prod", wait=True, timeout=20)
    fleet.engine.sync("ledger-worker", "prod", wait=True, timeout=20)
    prod_before = all_objects(fleet, "trading-prod")
    fleet.repo.commit({"apps/trade-service/dev/extra.yaml": ATTACK}, "a little extra")

    with pytest.raises(ManifestError) as refused:
        fleet.engine.sync("trade-service", "dev")
    message = str(refused.value)
    assert message.startswith(
        "apps/trade-service/dev: ConfigMap trading-prod/trade-service-config is in namespace trading-prod, outside "
        "the namespaces dev allows (trading-dev); add it to environments.dev.allowed_namespaces if this app really "
        "owns it; also refused: "
    )
    for other in (
        "Deployment trading-prod/ledger-worker",
        "ClusterRoleBinding dev-takes-the-cluster",
        "Namespace mining",
    ):
        assert other in message
    # nothing applied, adopted or created: prod's objects untouched and still prod's, nothing cluster-wide
    assert all_objects(fleet, "trading-prod") == prod_before
    assert tracking(fleet, "Deployment", "ledger-worker", "trading-prod") == "ledger-worker/prod"
    assert tracking(fleet, "ConfigMap", "trade-service-config", "trading-prod") == "trade-service/prod"
    images = [
        c.image
        for c in fleet.apps.read_namespaced_deployment("ledger-worker", "trading-prod").spec.template.spec.containers
    ]
    assert images == ["registry.local/ledger-worker:v0.9.3"]
    rbac = k8s.RbacAuthorizationV1Api(fleet.core.api_client)
    assert absent(rbac.read_cluster_role_binding, "dev-takes-the-cluster")
    assert absent(fleet.core.read_namespace, "mining")
    assert {k for k in all_objects(fleet, "trading-dev") if not k.startswith("cm/gitopsctl-")} == set()
    assert fleet.engine.history("trade-service", "dev") == []

    # the file goes and dev syncs: prune deletes nothing of prod's
    fleet.repo.commit({"apps/trade-service/dev/extra.yaml": None}, "never mind")
    result = fleet.engine.sync("trade-service", "dev")
    assert (result.result, result.pruned) == ("Succeeded", [])
    assert all_objects(fleet, "trading-prod") == prod_before


def test_a_deploy_of_an_app_outside_its_boundary_is_refused_before_its_commit(fleet):
    head = fleet.repo.commit({"apps/trade-service/dev/extra.yaml": ATTACK}, "a little extra")
    with pytest.raises(ManifestError, match="outside the namespaces dev allows"):
        fleet.engine.deploy("trade-service", "dev", "v1.4.2", actor="alice")
    assert git.Repo(fleet.repo.url).commit("main").hexsha == head  # no version bump was committed
    assert fleet.engine.history("trade-service", "dev") == []


def test_status_drift_and_the_fleet_show_the_refusal_in_that_apps_row(fleet):
    fleet.repo.commit({"apps/trade-service/dev/extra.yaml": ATTACK}, "a little extra")
    rows = {(r.app, r.env): r for r in fleet.engine.status()}
    assert len(rows) == 9
    assert "outside the namespaces dev allows" in rows[("trade-service", "dev")].message
    assert rows[("trade-service", "dev")].sync == "Unknown"
    assert "outside" not in rows[("trade-service", "staging")].message
    assert rows[("trade-service", "staging")].sync == "OutOfSync"  # never synced: the other rows are still computed
    report = fleet.engine.drift("dev")
    refused = next(d for d in report.drifted if d.app == "trade-service")
    assert {(str(r.ref), r.state) for r in refused.resources} == {
        ("ConfigMap trading-prod/trade-service-config", "refused"),
        ("Deployment trading-prod/ledger-worker", "refused"),
        ("ClusterRoleBinding dev-takes-the-cluster", "refused"),
        ("Namespace mining", "refused"),
    }
    assert {d.app for d in report.drifted} == {"trade-service"}
    assert {app for app, _ in report.clean} == {"pricing-api", "ledger-worker"}  # the rest scanned: never delivered
    view = fleet.engine.fleet()
    assert "outside the namespaces dev allows" in view.cell("trade-service", "dev").message
    assert view.cell("pricing-api", "dev").sync == "OutOfSync"


def test_allowed_namespaces_let_a_second_namespace_through(fleet):
    engine = configure(fleet, env={"dev": 'allowed_namespaces = ["trading-shared"]'})
    shared = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\n  namespace: trading-shared\n"
    fleet.repo.commit({"apps/trade-service/dev/shared.yaml": shared}, "shared config")
    result = engine.sync("trade-service", "dev")
    assert "ConfigMap trading-shared/shared" in [str(r) for r in result.applied]
    assert tracking(fleet, "ConfigMap", "shared", "trading-shared") == "trade-service/dev"
    fleet.repo.commit({"apps/trade-service/staging/shared.yaml": shared}, "and in staging, which does not allow it")
    with pytest.raises(ManifestError, match=r"outside the namespaces staging allows \(trading-staging\)"):
        engine.sync("trade-service", "staging")


def test_cluster_resources_allow_a_cluster_role_and_nothing_else(fleet):
    engine = configure(fleet, env={"dev": 'cluster_resources = ["ClusterRole"]'})
    role = textwrap.dedent(
        """\
        apiVersion: rbac.authorization.k8s.io/v1
        kind: ClusterRole
        metadata:
          name: trade-service-reader
        rules:
          - {apiGroups: [""], resources: [configmaps], verbs: [get]}
        """
    )
    fleet.repo.commit({"apps/trade-service/dev/role.yaml": role}, "a reader role")
    result = engine.sync("trade-service", "dev")
    assert "ClusterRole trade-service-reader" in [str(r) for r in result.applied]
    rbac = k8s.RbacAuthorizationV1Api(fleet.core.api_client)
    assert rbac.read_cluster_role("trade-service-reader").metadata.annotations[TRACKING_ANNOTATION] == (
        "trade-service/dev"
    )
    binding = ATTACK.split("---\n")[2]
    fleet.repo.commit({"apps/trade-service/dev/binding.yaml": binding}, "and a binding")
    with pytest.raises(
        ManifestError,
        match=r'allows no cluster-scoped ClusterRoleBinding \(cluster_resources: ClusterRole\); add "ClusterRoleBinding"',
    ):
        engine.sync("trade-service", "dev")
    assert absent(rbac.read_cluster_role_binding, "dev-takes-the-cluster")


def test_a_namespace_object_needs_cluster_resources_and_an_allowed_name(fleet):
    engine = configure(fleet, env={"dev": 'cluster_resources = ["Namespace"]'})
    fleet.repo.commit(
        {"apps/trade-service/dev/ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: mining\n"}, "ns"
    )
    with pytest.raises(
        ManifestError, match=r"Namespace mining is not one of the namespaces dev allows \(trading-dev\)"
    ):
        engine.sync("trade-service", "dev")
    assert absent(fleet.core.read_namespace, "mining")
    fleet.repo.commit(
        {"apps/trade-service/dev/ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: trading-dev\n"},
        "own ns",
    )
    assert "Namespace trading-dev" in [str(r) for r in engine.sync("trade-service", "dev").applied]


def test_app_kinds_refuse_a_kind_the_app_does_not_list(fleet):
    engine = configure(fleet, app={"trade-service": 'kinds = ["Deployment", "Service", "ConfigMap"]'})
    engine.sync("trade-service", "dev")
    before = all_objects(fleet, "trading-dev")
    secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: keys\nstringData:\n  k: v\n"
    fleet.repo.commit({"apps/trade-service/dev/secret.yaml": secret}, "a secret")
    with pytest.raises(
        ManifestError,
        match=r"Secret trading-dev/keys is a Secret, not one of the kinds trade-service may hold "
        r"\(Deployment, Service, ConfigMap\); add it to apps.trade-service.kinds",
    ):
        engine.sync("trade-service", "dev")
    assert all_objects(fleet, "trading-dev") == before


def test_an_object_tracked_by_another_app_is_refused_with_its_owner_named(fleet):
    fleet.engine.sync("ledger-worker", "dev", wait=True, timeout=20)
    fleet.engine.sync("trade-service", "dev", wait=True, timeout=20)
    before = all_objects(fleet, "trading-dev")
    stolen = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: ledger-db\nstringData:\n  password: mine\n"
    fleet.repo.commit({"apps/trade-service/dev/stolen.yaml": stolen}, "take the ledger's secret")
    owner = "Secret trading-dev/ledger-db belongs to ledger-worker in dev, so trade-service in dev may not take it over"
    with pytest.raises(ManifestError, match=owner):
        fleet.engine.sync("trade-service", "dev")
    with pytest.raises(ManifestError, match=owner):
        fleet.engine.diff("trade-service", "dev")
    assert owner in fleet.engine.status("trade-service", "dev")[0].message
    assert owner in fleet.engine.fleet().cell("trade-service", "dev").message
    assert all_objects(fleet, "trading-dev") == before
    secret = fleet.core.read_namespaced_secret("ledger-db", "trading-dev")
    assert secret.metadata.annotations[TRACKING_ANNOTATION] == "ledger-worker/dev"


def test_prune_deletes_only_this_apps_objects_inside_its_boundary(fleet):
    engine = configure(fleet, env={"dev": 'allowed_namespaces = ["trading-shared"]'})
    shared = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\n  namespace: trading-shared\n"
    fleet.repo.commit({"apps/trade-service/dev/shared.yaml": shared}, "shared config")
    engine.sync("trade-service", "dev")
    engine.sync("ledger-worker", "dev")
    fleet.config_path.write_text(fleet.config_path.read_text().replace('allowed_namespaces = ["trading-shared"]\n', ""))
    engine = fleet.reload()  # trading-shared is no longer dev's
    fleet.repo.commit(
        {"apps/trade-service/dev/shared.yaml": None, "apps/trade-service/dev/configmap.yaml": None}, "drop both"
    )
    result = engine.sync("trade-service", "dev")
    assert [str(r) for r in result.pruned] == ["ConfigMap trading-dev/trade-service-config"]
    assert "cm/shared" in all_objects(fleet, "trading-shared")
    assert {"secret/ledger-db", "deploy/ledger-worker"} <= set(all_objects(fleet, "trading-dev"))


BASE = textwrap.dedent(
    """
    [git]
    url = "https://git.example.com/gitops.git"

    [environments.dev]
    context = "dev"
    namespace = "trading-dev"
    {env}

    [apps.trade-service]
    path = "apps/trade-service/{{env}}"
    {app}
    """
)


def parse(env: str = "", app: str = "") -> config.Config:
    return config.parse(tomllib.loads(BASE.format(env=env, app=app)))


def test_the_boundary_keys_default_to_the_own_namespace_no_cluster_kinds_and_any_namespaced_kind():
    cfg = parse()
    dev = cfg.environments["dev"]
    assert (dev.allowed_namespaces, dev.cluster_resources, cfg.apps["trade-service"].kinds) == (
        ("trading-dev",),
        (),
        None,
    )
    dev = parse(
        'allowed_namespaces = ["trading-shared"]\ncluster_resources = ["Namespace", "ClusterRole"]'
    ).environments["dev"]
    assert (dev.allowed_namespaces, dev.cluster_resources) == (
        ("trading-dev", "trading-shared"),
        ("Namespace", "ClusterRole"),
    )


@pytest.mark.parametrize(
    ("env", "app", "problem"),
    [
        (
            'allowed_namespaces = ["Trading_Prod"]',
            "",
            "environments.dev.allowed_namespaces[0]: ",
        ),
        (
            'allowed_namespaces = "trading-prod"',
            "",
            "environments.dev.allowed_namespaces: must be a list of strings (got a string)",
        ),
        (
            'cluster_resources = ["clusterrole"]',
            "",
            'environments.dev.cluster_resources[0]: "clusterrole" is not a Kubernetes kind such as Deployment or ClusterRole',
        ),
        (
            "",
            'kinds = ["deployments"]',
            'apps.trade-service.kinds[0]: "deployments" is not a Kubernetes kind such as Deployment or ClusterRole',
        ),
        (
            "",
            "kinds = []",
            "apps.trade-service.kinds: must list at least one kind (leave it out to allow any namespaced kind)",
        ),
    ],
)
def test_a_bad_boundary_value_is_one_error_line(env, app, problem):
    with pytest.raises(ConfigError) as err:
        parse(env, app)
    (line,) = err.value.problems
    assert line.startswith(problem)
