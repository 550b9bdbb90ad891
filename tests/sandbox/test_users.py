"""The sandbox's users: each token is someone, and the cluster says who (SelfSubjectReview)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
import urllib3
import yaml
from kubernetes import client as k8s
from kubernetes import config as kube_config
from kubernetes.client.exceptions import ApiException

from gitopsctl.cluster.client import Cluster
from gitopsctl.errors import ClusterError, UsageError
from kubesandbox import Sandbox
from tests.conftest import fast_timing

KUBECTL = shutil.which("kubectl")
TEAM = {"alice@example.com": ["team-a", "approvers"], "bob": ["team-b"]}


@pytest.fixture
def team(tmp_path):
    with Sandbox.start(tmp_path / "cluster", timing=fast_timing(), users=TEAM) as sb:
        yield sb


def _review(kubeconfig, context: str | None = None) -> tuple[str, list[str]]:
    api = kube_config.new_client_from_config(str(kubeconfig), context=context)
    info = k8s.AuthenticationV1Api(api).create_self_subject_review(k8s.V1SelfSubjectReview()).status.user_info
    return info.username, info.groups


def test_official_client_is_told_who_each_user_is(team):
    assert _review(team.kubeconfig) == ("sandbox-admin", ["system:masters", "system:authenticated"])
    assert _review(team.kubeconfig, "alice@example.com@sandbox") == (
        "alice@example.com",
        ["team-a", "approvers", "system:authenticated"],
    )
    assert _review(team.kubeconfig_for("bob")) == ("bob", ["team-b", "system:authenticated"])


@pytest.mark.kubectl
@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_kubectl_auth_whoami_names_each_user(team):
    def whoami(*args: str) -> dict:
        result = subprocess.run(
            [KUBECTL, *args, "auth", "whoami", "-o", "json"], capture_output=True, text=True, timeout=60, check=False
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)["status"]["userInfo"]

    alice = whoami("--kubeconfig", str(team.kubeconfig_for("alice@example.com")))
    assert alice == {"username": "alice@example.com", "groups": ["team-a", "approvers", "system:authenticated"]}
    bob = whoami("--kubeconfig", str(team.kubeconfig), "--context", "bob@sandbox")
    assert bob == {"username": "bob", "groups": ["team-b", "system:authenticated"]}
    table = subprocess.run(
        [KUBECTL, "--kubeconfig", str(team.kubeconfig), "auth", "whoami"], capture_output=True, text=True, timeout=60
    )
    assert "sandbox-admin" in table.stdout and "system:masters" in table.stdout


def test_each_users_kubeconfig_has_the_main_context_name_and_the_main_one_is_unchanged(team):
    main = yaml.safe_load(team.kubeconfig.read_text())
    assert main["current-context"] == "sandbox"
    assert [c["name"] for c in main["contexts"]] == ["sandbox", "alice@example.com@sandbox", "bob@sandbox"]
    own = yaml.safe_load(team.kubeconfig_for("bob").read_text())
    assert [c["name"] for c in own["contexts"]] == ["sandbox"] and own["current-context"] == "sandbox"
    tokens = {u["user"]["token"] for u in main["users"]}
    assert len(tokens) == 3 and own["users"][0]["user"]["token"] in tokens


def test_users_and_their_tokens_survive_a_restart(tmp_path):
    state = tmp_path / "cluster"
    with Sandbox.start(state, timing=fast_timing()) as sb:
        first = sb.add_user("carol", ["sre"])
        token = yaml.safe_load(first.read_text())["users"][0]["user"]["token"]
    with Sandbox.start(state, timing=fast_timing(), users={"carol": ["sre", "oncall"]}) as sb:
        again = yaml.safe_load(sb.kubeconfig_for("carol").read_text())
        assert again["users"][0]["user"]["token"] == token
        assert _review(sb.kubeconfig_for("carol")) == ("carol", ["sre", "oncall", "system:authenticated"])


@pytest.mark.parametrize(
    "name",
    ["", "alice smith", "alice\n", "bob\x1b[31m", "system:admin", "sandbox-admin", "../../etc/passwd", "-x", "a" * 300],
)
def test_a_bad_user_name_is_refused_and_nothing_is_written(team, name):
    before = sorted(os.listdir(team.state_dir))
    users_json = (team.state_dir / "users.json").read_text()
    with pytest.raises(UsageError, match="sandbox user name"):
        team.add_user(name)
    assert sorted(os.listdir(team.state_dir)) == before
    assert (team.state_dir / "users.json").read_text() == users_json


def test_bad_groups_and_unknown_users_are_refused(team, tmp_path):
    with pytest.raises(UsageError, match="group 'ops\\\\n' of sandbox user dave"):
        team.add_user("dave", ["ops\n"])
    with pytest.raises(UsageError, match="not the string"):
        team.add_user("dave", "ops")
    with pytest.raises(UsageError, match="has no user 'dave'"):
        team.kubeconfig_for("dave")
    assert "dave" not in (team.state_dir / "users.json").read_text()
    with pytest.raises(UsageError, match="sandbox user name"):
        Sandbox.start(tmp_path / "never", users={"bad name": []})
    assert not (tmp_path / "never").exists()


def test_an_unknown_token_is_401_with_a_status_and_changes_nothing(team, tmp_path):
    config = yaml.safe_load(team.kubeconfig.read_text())
    config["users"][0]["user"]["token"] = "not-a-token"
    forged = tmp_path / "forged"
    forged.write_text(yaml.safe_dump(config))
    core = k8s.CoreV1Api(kube_config.new_client_from_config(str(forged)))
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map("default", {"metadata": {"name": "planted"}})
    assert err.value.status == 401
    assert json.loads(err.value.body) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Unauthorized",
        "reason": "Unauthorized",
        "code": 401,
    }
    admin = k8s.CoreV1Api(kube_config.new_client_from_config(str(team.kubeconfig)))
    assert [cm.metadata.name for cm in admin.list_namespaced_config_map("default").items] == []


def test_discovery_serves_selfsubjectreviews_create_only_and_nothing_is_stored(team):
    api = kube_config.new_client_from_config(str(team.kubeconfig))
    listed = k8s.AuthenticationV1Api(api).get_api_resources()
    [entry] = listed.resources
    assert (entry.name, entry.kind, entry.namespaced, entry.verbs) == (
        "selfsubjectreviews",
        "SelfSubjectReview",
        False,
        ["create"],
    )
    _review(team.kubeconfig)
    http = urllib3.PoolManager(ca_certs=str(team.ca_path))
    listing = http.request(
        "GET",
        f"{team.server}/apis/authentication.k8s.io/v1/selfsubjectreviews",
        headers={"Authorization": f"Bearer {team.token}"},
    )
    assert listing.status == 405 and listing.json()["reason"] == "MethodNotAllowed"
    assert not any(key == ("authentication.k8s.io", "selfsubjectreviews") for key, _ in team.store.all_objects())


def test_cluster_whoami_asks_once_and_names_the_user(team):
    cluster = Cluster("sandbox", team.kubeconfig_for("alice@example.com"))
    assert cluster.whoami() == ("alice@example.com", ("team-a", "approvers", "system:authenticated"))
    assert cluster.whoami() == ("alice@example.com", ("team-a", "approvers", "system:authenticated"))
    assert cluster.requests == 1
    assert Cluster("sandbox", team.kubeconfig).whoami()[0] == "sandbox-admin"


def test_cluster_whoami_maps_refusals_to_one_sentence(team, tmp_path):
    config = yaml.safe_load(team.kubeconfig_for("bob").read_text())
    config["users"][0]["user"]["token"] = "revoked"
    revoked = tmp_path / "revoked"
    revoked.write_text(yaml.safe_dump(config))
    with pytest.raises(
        ClusterError, match="^the cluster behind context sandbox would not say who you are: Unauthorized$"
    ):
        Cluster("sandbox", revoked).whoami()

    # a server that does not serve authentication.k8s.io/v1 (here: every path under a prefix is unknown; the
    # admin's token, since RBAC answers anyone else 403 for a path no role grants, before any 404)
    config = yaml.safe_load(team.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] += "/old"
    old = tmp_path / "old"
    old.write_text(yaml.safe_dump(config))
    with pytest.raises(ClusterError, match=r"would not say who you are \(SelfSubjectReview needs Kubernetes 1\.28"):
        Cluster("sandbox", old).whoami()

    team.stop()
    with pytest.raises(ClusterError, match="cannot reach the cluster of context sandbox to learn who you are"):
        Cluster("sandbox", team.kubeconfig_for("bob"), attempts=1).whoami()
