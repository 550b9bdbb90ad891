"""Every refusal in the safety list, each before anything is applied."""

from __future__ import annotations

import os

import pytest

from gitopsctl.errors import ManifestError, UnsafeInputError
from gitopsctl.source.manifests import load_yaml_documents
from gitopsctl.source.repo import GitRepository
from gitopsctl.source.safety import check_ref, check_repo_url
from tests.engine.conftest import all_objects


@pytest.mark.parametrize(
    "url",
    [
        "https://git.example.com/platform/gitops.git",
        "ssh://git@git.example.com:22/gitops.git",
        "git@github.com:acme/gitops.git",
        "file:///srv/git/gitops.git",
        "/srv/git/gitops.git",
    ],
)
def test_accepted_repository_urls(url):
    assert check_repo_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "--upload-pack=touch /tmp/x",
        "-oProxyCommand=x",
        "ext::sh -c touch% /tmp/x",
        "ssh://-oProxyCommand=x/repo",
        "git@-oProxyCommand=x:repo",
        "http://insecure.example.com/repo.git",
        "relative/path",
        "file://host/share",
        "https://example.com/repo\n--upload-pack=x",
        "fd::17",
    ],
)
def test_refused_repository_urls(url):
    with pytest.raises(UnsafeInputError, match="refusing repository URL"):
        check_repo_url(url)


def test_an_unsafe_url_is_refused_before_git_runs(tmp_path):
    with pytest.raises(UnsafeInputError):
        GitRepository("ext::sh -c 'touch pwned'", "main", tmp_path)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("ref", ["main", "release/2026-11", "v1.4.2", "abc1234", "0" * 40])
def test_accepted_refs(ref):
    assert check_ref(ref) == ref


@pytest.mark.parametrize(
    "ref",
    [
        "-x",
        "--upload-pack=touch /tmp/x",
        "a..b",
        "has space",
        "a~1",
        "a^",
        "x:y",
        "w?",
        "b*",
        "c[",
        "back\\slash",
        "ends.lock",
        "@",
        "a//b",
        ".hidden",
        "trailing/",
        "dot.",
        "HEAD@{1}",
        "",
    ],
)
def test_refused_refs(ref):
    with pytest.raises(UnsafeInputError, match="refusing revision"):
        check_ref(ref)


def test_an_option_shaped_revision_never_reaches_git(fleet, tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(UnsafeInputError):
        fleet.engine.sync("trade-service", "dev", revision=f"--upload-pack=touch {marker}")
    assert not marker.exists()
    assert all_objects(fleet, "trading-dev") == {}


def test_a_symlink_outside_the_app_path_is_refused_without_echoing_content(fleet):
    secret = "TOP-SECRET-CONTENT-41"
    fleet.repo.commit({"private/creds.yaml": f"password: {secret}\n"}, "private file")
    link = fleet.repo.work_path / "apps/trade-service/dev/creds.yaml"
    os.symlink("../../../private/creds.yaml", link)
    fleet.repo.work.index.add(["apps/trade-service/dev/creds.yaml"])
    fleet.repo.work.index.commit("sneak a symlink in")
    fleet.repo.work.remote("origin").push("main:main")
    with pytest.raises(ManifestError) as err:
        fleet.engine.sync("trade-service", "dev")
    assert "creds.yaml is a symlink that points outside apps/trade-service/dev" in str(err.value)
    assert secret not in str(err.value)
    assert all_objects(fleet, "trading-dev") == {}


def test_a_symlink_inside_the_app_path_is_followed(fleet):
    fleet.repo.commit(
        {
            "apps/trade-service/dev/shared/extra.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\ndata: {a: b}\n"
        },
        "extra",
    )
    os.symlink("shared/extra.yaml", fleet.repo.work_path / "apps/trade-service/dev/link.yml")
    fleet.repo.work.index.add(["apps/trade-service/dev/link.yml"])
    fleet.repo.work.index.commit("link inside")
    fleet.repo.work.remote("origin").push("main:main")
    # the same object twice (file and link) is a duplicate, which proves the link was read
    with pytest.raises(ManifestError, match="ConfigMap extra is declared twice"):
        fleet.engine.sync("trade-service", "dev")


BILLION_LAUGHS = """
apiVersion: v1
kind: ConfigMap
metadata: {name: lol}
data:
  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
  b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
  c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
  d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
  e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
  f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
  g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
  h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
"""


def test_alias_bombs_are_refused(fleet):
    with pytest.raises(ManifestError, match="YAML aliases expand to more than"):
        load_yaml_documents(BILLION_LAUGHS, "bomb.yaml")
    fleet.repo.commit({"apps/trade-service/dev/bomb.yaml": BILLION_LAUGHS}, "laugh")
    with pytest.raises(ManifestError, match="bomb.yaml: YAML aliases expand"):
        fleet.engine.sync("trade-service", "dev")
    assert all_objects(fleet, "trading-dev") == {}


def test_python_specific_yaml_tags_are_refused():
    with pytest.raises(ManifestError):
        load_yaml_documents("!!python/object/apply:os.system ['touch /tmp/x']", "evil.yaml")


def test_manifests_over_the_size_cap_are_refused(fleet):
    big = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n  blob: " + "x" * (2 * 1024 * 1024) + "\n"
    fleet.repo.commit({"apps/trade-service/dev/big.yaml": big}, "big")
    fleet.config_path.write_text(
        fleet.config_path.read_text().replace('branch = "main"', 'branch = "main"\nmax_render_mb = 1')
    )
    engine = fleet.reload()
    with pytest.raises(ManifestError, match="more than the 1 MB limit"):
        engine.sync("trade-service", "dev")
    assert all_objects(fleet, "trading-dev") == {}


def test_duplicate_resources_are_refused(fleet):
    dup = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: trade-service-config\ndata: {x: y}\n"
    fleet.repo.commit({"apps/trade-service/dev/dup.yaml": dup}, "dup")
    with pytest.raises(ManifestError, match="ConfigMap trade-service-config is declared twice"):
        fleet.engine.sync("trade-service", "dev")
    assert all_objects(fleet, "trading-dev") == {}


def test_an_object_the_cluster_rejects_stops_the_sync_before_anything_is_applied(fleet):
    fleet.engine.sync("trade-service", "dev", wait=True, timeout=20)  # settled: controllers write no more status
    before = all_objects(fleet, "trading-dev")
    bad = fleet.repo.work_path / "apps/trade-service/dev/deployment.yaml"
    text = bad.read_text().replace(
        "  template:\n    metadata:\n      labels:\n        app: trade-service",
        "  template:\n    metadata:\n      labels:\n        app: other",
    )
    fleet.repo.commit(
        {
            "apps/trade-service/dev/deployment.yaml": text,
            "apps/trade-service/dev/configmap.yaml": bad.parent.joinpath("configmap.yaml")
            .read_text()
            .replace("debug", "warn"),
        },
        "break the selector and change config",
    )
    with pytest.raises(ManifestError, match="Deployment trading-dev/trade-service was refused by the cluster"):
        fleet.engine.sync("trade-service", "dev")
    assert all_objects(fleet, "trading-dev") == before
    assert fleet.core.read_namespaced_config_map("trade-service-config", "trading-dev").data["LOG_LEVEL"] == "debug"


def test_remote_kustomize_bases_are_refused(fleet):
    fleet.repo.commit(
        {"apps/pricing-api/dev/kustomization.yaml": "resources:\n  - https://github.com/acme/base?ref=v1\n"}, "remote"
    )
    with pytest.raises(ManifestError, match="remote kustomize base"):
        fleet.engine.sync("pricing-api", "dev")
