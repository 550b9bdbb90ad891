"""Reading the GitOps repository and rendering apps: plain YAML, kustomize, caching, revisions."""

from __future__ import annotations

import threading

import pytest

from demo.seed import deployment_yaml
from gitopsctl.errors import SourceError


def render(fleet, path: str, revision: str | None = None):
    sha = fleet.engine.repo.resolve(revision)
    return fleet.engine.renderer.render(sha, path)


def test_plain_yaml_reads_every_file_and_expands_multi_document_files_and_lists(fleet):
    multi = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: one}\n---\n"
        "apiVersion: v1\nkind: List\nitems:\n"
        "  - {apiVersion: v1, kind: ConfigMap, metadata: {name: two}}\n"
        "  - {apiVersion: v1, kind: ConfigMap, metadata: {name: three}}\n---\n"
    )
    fleet.repo.commit(
        {"apps/trade-service/dev/nested/more.yml": multi, "apps/trade-service/dev/notes.txt": "not yaml"}, "more"
    )
    rendered = render(fleet, "apps/trade-service/dev")
    names = sorted(o["metadata"]["name"] for o in rendered.objects)
    assert names == ["one", "three", "trade-service", "trade-service", "trade-service-config", "two"]


def test_kustomize_overlays_render_with_their_base(fleet):
    rendered = render(fleet, "apps/pricing-api/prod")
    deployment = next(o for o in rendered.objects if o["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.local/pricing-api:v2.0.0"
    assert {o["kind"] for o in rendered.objects} == {"Deployment", "Service"}


def test_a_render_is_cached_by_the_tree_ids_it_read(fleet):
    renderer = fleet.engine.renderer
    render(fleet, "apps/trade-service/dev")
    render(fleet, "apps/pricing-api/dev")
    assert renderer.renders == 2

    fleet.repo.commit(
        {
            "apps/ledger-worker/dev/worker.yaml": deployment_yaml(
                "ledger-worker", "registry.local/ledger-worker:v1.0.0", 1
            )
        },
        "ledger only",
    )
    render(fleet, "apps/trade-service/dev")
    render(fleet, "apps/pricing-api/dev")
    assert renderer.renders == 2, "apps whose files did not change must not be rendered again"

    fleet.repo.commit(
        {
            "apps/pricing-api/base/service.yaml": (fleet.repo.work_path / "apps/pricing-api/base/service.yaml")
            .read_text()
            .replace("port: 80", "port: 81")
        },
        "base changes",
    )
    rendered = render(fleet, "apps/pricing-api/dev")
    assert renderer.renders == 3, "a change in a kustomize base must re-render its overlays"
    assert next(o for o in rendered.objects if o["kind"] == "Service")["spec"]["ports"][0]["port"] == 81


def test_a_new_process_starts_warm_from_the_renders_kept_on_disk(fleet):
    first = render(fleet, "apps/trade-service/dev")
    assert fleet.engine.renderer.renders == 1
    fresh = fleet.reload()  # another engine over the same cache directory, as a new process has
    again = fresh.renderer.render(fresh.repo.resolve(), "apps/trade-service/dev")
    assert fresh.renderer.renders == 0 and again.objects == first.objects
    for cached in fresh.renderer._disk.glob("*.json"):
        cached.write_text("{not json")  # a damaged entry is rendered again, never trusted
    newer = fleet.reload()
    assert newer.renderer.render(newer.repo.resolve(), "apps/trade-service/dev").objects == first.objects
    assert newer.renderer.renders == 1


def test_the_version_is_the_named_containers_image_tag(fleet):
    fleet.engine.sync("trade-service", "dev")
    fleet.engine.sync("pricing-api", "staging")
    rows = {(r.app, r.env): r for r in fleet.engine.status()}
    assert rows[("trade-service", "dev")].version == "v1.4.1"
    assert rows[("pricing-api", "staging")].version == "v2.0.0"


def test_any_revision_can_be_read_by_branch_tag_or_sha(fleet):
    first = fleet.repo.work.head.commit.hexsha
    fleet.repo.work.create_tag("release-1")
    fleet.repo.work.remote("origin").push("release-1")
    fleet.repo.commit(
        {
            "apps/trade-service/dev/deployment.yaml": deployment_yaml(
                "trade-service", "registry.local/trade-service:v9", 1
            )
        },
        "v9",
    )

    def image(revision):
        objs = render(fleet, "apps/trade-service/dev", revision).objects
        return next(o for o in objs if o["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]["image"]

    assert image("main").endswith(":v9")
    assert image("release-1").endswith(":v1.4.1")
    assert image(first).endswith(":v1.4.1")
    assert image(first[:10]).endswith(":v1.4.1")
    with pytest.raises(SourceError, match="revision 'nope' does not exist"):
        fleet.engine.repo.resolve("nope")


def test_readers_of_different_revisions_do_not_disturb_each_other(fleet):
    old = fleet.repo.work.head.commit.hexsha
    fleet.repo.commit(
        {
            "apps/trade-service/dev/deployment.yaml": deployment_yaml(
                "trade-service", "registry.local/trade-service:v2", 1
            )
        },
        "v2",
    )
    new = fleet.engine.repo.resolve("main")
    results: dict[str, set[str]] = {old: set(), new: set()}
    errors = []

    def reader(sha):
        try:
            for _ in range(20):
                objs = fleet.engine.renderer.render(sha, "apps/trade-service/dev").objects
                results[sha].add(
                    next(o for o in objs if o["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0][
                        "image"
                    ]
                )
        except Exception as e:  # collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=reader, args=(sha,)) for sha in (old, new, old, new)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert results == {old: {"registry.local/trade-service:v1.4.1"}, new: {"registry.local/trade-service:v2"}}


def test_a_missing_kustomize_binary_is_a_clear_error(fleet, monkeypatch):
    monkeypatch.setattr("gitopsctl.source.kustomize.shutil.which", lambda name: None)
    from gitopsctl.errors import ManifestError

    with pytest.raises(ManifestError, match="neither kustomize nor kubectl is installed"):
        render(fleet, "apps/pricing-api/dev")
