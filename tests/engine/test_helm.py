"""Helm charts render as the app's release in each environment, from the revision's tree only, with values files
per environment, vendored dependencies and nothing fetched; they sync like any other app."""

from __future__ import annotations

import io
import tarfile
import textwrap
from pathlib import Path

import git
import pytest

from gitopsctl.errors import ManifestError, UnsafeInputError
from gitopsctl.source.helm import Release
from gitopsctl.source.render import Renderer
from gitopsctl.sync.hooks import phases_of
from tests.conftest import require_helm
from tests.engine.test_kustomize_paths import Repo

CHART = {
    "charts/web/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    "charts/web/values.yaml": "replicas: 1\nimage: {repository: registry.local/web, tag: v1.0.0}\n",
    "charts/web/values-dev.yaml": "image: {tag: v1.1.0-dev}\n",
    "charts/web/values-prod.yaml": "replicas: 3\nimage: {tag: v1.0.0}\n",
    "charts/web/templates/deployment.yaml": textwrap.dedent(
        """\
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: {{ .Release.Name }}
        spec:
          replicas: {{ .Values.replicas }}
          selector: {matchLabels: {app: {{ .Release.Name }}}}
          template:
            metadata: {labels: {app: {{ .Release.Name }}}}
            spec:
              containers:
                - name: web
                  image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
        """
    ),
    "charts/web/templates/settings.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: '{{ .Release.Name }}-settings'}\n"
    "data: {namespace: '{{ .Release.Namespace }}'}\n",
    "charts/web/templates/tests/ping.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: ping\n"
    "  annotations: {helm.sh/hook: test}\nspec: {containers: [{name: ping, image: busybox}]}\n",
}
DEV = Release("web", "web-dev", ("values-dev.yaml",))
PROD = Release("web", "web-prod", ("values-prod.yaml",))


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    require_helm()
    made = Repo(tmp_path)
    made.commit(CHART)
    return made


def render(repo: Repo, release: Release, path: str = "charts/web"):
    repo.renderer.repo.fetch(force=True)
    return repo.renderer.render(repo.renderer.repo.resolve("main"), path, release)


def by_kind(rendered, kind: str) -> dict:
    return next(o for o in rendered.objects if o["kind"] == kind)


def image(rendered) -> str:
    return by_kind(rendered, "Deployment")["spec"]["template"]["spec"]["containers"][0]["image"]


def test_a_chart_renders_as_the_release_in_each_environment_with_its_values_files(repo):
    dev, prod = render(repo, DEV), render(repo, PROD)
    assert (by_kind(dev, "Deployment")["spec"]["replicas"], image(dev)) == (1, "registry.local/web:v1.1.0-dev")
    assert (by_kind(prod, "Deployment")["spec"]["replicas"], image(prod)) == (3, "registry.local/web:v1.0.0")
    assert by_kind(prod, "ConfigMap")["metadata"]["name"] == "web-settings"
    assert by_kind(prod, "ConfigMap")["data"] == {"namespace": "web-prod"}
    assert {o["kind"] for o in dev.objects} == {"Deployment", "ConfigMap"}, "chart tests are never rendered"
    assert dev.cache_key != prod.cache_key and repo.renderer.renders == 2


def test_crds_are_included(repo):
    crd = textwrap.dedent(
        """\
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata: {name: widgets.example.com}
        spec:
          group: example.com
          names: {kind: Widget, plural: widgets}
          scope: Namespaced
          versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]
        """
    )
    repo.commit({"charts/web/crds/widgets.yaml": crd})
    assert by_kind(render(repo, DEV), "CustomResourceDefinition")["metadata"]["name"] == "widgets.example.com"


def test_a_vendored_subchart_renders_with_its_parent(repo):
    repo.commit(
        {
            "charts/web/Chart.yaml": CHART["charts/web/Chart.yaml"]
            + "dependencies:\n  - {name: cache, version: 0.2.0, repository: 'file://../cache'}\n",
            "charts/web/charts/cache/Chart.yaml": "apiVersion: v2\nname: cache\nversion: 0.2.0\n",
            "charts/web/charts/cache/values.yaml": "size: 64Mi\n",
            "charts/web/charts/cache/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\n"
            "metadata: {name: '{{ .Release.Name }}-cache'}\ndata: {size: '{{ .Values.size }}'}\n",
        }
    )
    rendered = render(repo, DEV)
    assert next(o for o in rendered.objects if o["metadata"]["name"] == "web-cache")["data"] == {"size": "64Mi"}


def test_a_vendored_chart_archive_renders_with_its_parent(repo):
    archive = repo.git.work_path / "charts/web/charts/queue-0.3.0.tgz"
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        for name, text in {
            "queue/Chart.yaml": "apiVersion: v2\nname: queue\nversion: 0.3.0\n",
            "queue/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: '{{ .Release.Name }}-queue'}\n",
        }.items():
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    repo.git.work.index.add(["charts/web/charts/queue-0.3.0.tgz"])
    repo.git.work.index.commit("a vendored archive")
    repo.git.work.remote("origin").push("main:main").raise_if_error()
    assert "web-queue" in {o["metadata"]["name"] for o in render(repo, DEV).objects}


@pytest.mark.parametrize(
    ("repository", "expected"),
    [
        ("https://charts.example.com/stable", "comes from the chart repository https://charts.example.com/stable"),
        ("oci://registry.example.com/charts", "comes from the OCI registry oci://registry.example.com/charts"),
        ("@stable", "comes from the chart repository @stable"),
    ],
)
def test_a_dependency_to_download_is_refused(repo, repository, expected):
    repo.commit(
        {
            "charts/web/Chart.yaml": CHART["charts/web/Chart.yaml"]
            + f"dependencies:\n  - {{name: redis, version: 1.0.0, repository: '{repository}'}}\n"
        }
    )
    with pytest.raises(ManifestError, match=f"charts/web/Chart.yaml: dependency 'redis' {expected}, which gitopsctl"):
        render(repo, DEV)


def test_a_remote_dependency_of_a_vendored_subchart_or_in_requirements_yaml_is_refused_too(repo):
    remote = "dependencies:\n  - {name: redis, version: 1.0.0, repository: 'https://charts.example.com'}\n"
    repo.commit({"charts/web/requirements.yaml": remote})
    with pytest.raises(ManifestError, match="charts/web/requirements.yaml: dependency 'redis' comes from"):
        render(repo, DEV)
    repo.commit(
        {
            "charts/web/requirements.yaml": None,
            "charts/web/charts/cache/Chart.yaml": "apiVersion: v2\nname: cache\nversion: 0.2.0\n" + remote,
        }
    )
    with pytest.raises(ManifestError, match="charts/web/charts/cache/Chart.yaml: dependency 'redis' comes from"):
        render(repo, DEV)


def test_a_file_dependency_leading_out_of_the_repository_is_refused(repo):
    repo.commit(
        {
            "charts/web/Chart.yaml": CHART["charts/web/Chart.yaml"]
            + "dependencies:\n  - {name: cache, version: 0.2.0, repository: 'file://../../../outside'}\n"
        }
    )
    with pytest.raises(ManifestError, match=r"dependency 'cache' is file://\.\./\.\./\.\./outside, outside the repo"):
        render(repo, DEV)


def test_a_symlink_out_of_the_repository_is_refused(repo):
    repo.commit({}, links={"charts/web/templates/passwd.yaml": "/etc/passwd"})
    with pytest.raises(UnsafeInputError, match="charts/web/templates/passwd.yaml is a symlink to '/etc/passwd'"):
        render(repo, DEV)
    repo.commit({}, links={"charts/web/templates/passwd.yaml": "../../../../etc/passwd"})
    with pytest.raises(UnsafeInputError, match="outside the repository"):
        render(repo, DEV)


def test_a_symlink_to_a_directory_elsewhere_in_the_repository_is_read_where_it_points(repo):
    shared = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared}\ndata: {a: b}\n"
    repo.commit({"shared/templates/shared.yaml": shared}, links={"charts/web/templates/shared": "../../../shared"})
    assert "shared" in {o["metadata"]["name"] for o in render(repo, DEV).objects}


def test_a_missing_values_file_is_one_clear_error(repo):
    with pytest.raises(
        ManifestError,
        match="web: values file 'values-staging.yaml' does not exist in charts/web at this revision; add it, "
        "or remove it from apps.web.values",
    ):
        render(repo, Release("web", "web-staging", ("values-staging.yaml",)))


def test_a_changed_values_file_renders_again(repo):
    assert image(render(repo, PROD)) == "registry.local/web:v1.0.0"
    repo.commit({"charts/web/values-prod.yaml": "replicas: 3\nimage: {tag: v1.2.0}\n"})
    assert image(render(repo, PROD)) == "registry.local/web:v1.2.0"
    assert image(repo.new_renderer().render(repo.renderer.repo.resolve("main"), "charts/web", PROD)).endswith("v1.2.0")
    assert repo.renderer.renders == 2


def test_helm_hooks_are_sync_hooks_as_argo_cd_maps_them(repo):
    hook = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n  annotations: {helm.sh/hook: pre-upgrade}\n"
    repo.commit({"charts/web/templates/migrate.yaml": hook + "spec: {template: {spec: {containers: []}}}\n"})
    (job,) = [o for o in render(repo, DEV).objects if o["kind"] == "Job"]
    assert phases_of(job) == ("PreSync",)  # run before the sync applies anything, never applied as an object


def test_helms_output_is_bounded(repo):
    many = "{{ range until 500 }}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: 'cm-{{ . }}'}\n{{ end }}\n"
    repo.commit({"charts/web/templates/many.yaml": many})
    small = Renderer(repo.renderer.repo, max_bytes=16 * 1024)
    small.repo.fetch(force=True)
    with pytest.raises(ManifestError, match="charts/web renders to more than the .* MB limit"):
        small.render(small.repo.resolve("main"), "charts/web", DEV)


def test_a_chart_that_would_take_gigabytes_of_memory_fails_in_its_row(repo):
    """Untested by helm's own limits, ``until 40000000`` takes 1.2 GB; the renderer's address space is capped."""
    repo.commit(
        {
            "charts/web/templates/big.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\n"
            "data: {n: '{{ len (until 40000000) }}'}\n"
        }
    )
    with pytest.raises(ManifestError, match=r"helm could not render charts/web: .*out of memory"):
        render(repo, DEV)


def test_a_chart_error_is_helms_own_message_with_repository_paths(repo):
    repo.commit({"charts/web/templates/broken.yaml": "{{ .Values.nope.deeper }}\n"})
    with pytest.raises(ManifestError, match="helm could not render charts/web: .*nil pointer") as error:
        render(repo, DEV)
    assert "gitopsctl-render-" not in str(error.value)


# ------------------------------------------------------------------ as an app of the engine

APP = """
[apps.web]
path = "charts/web"
values = ["values-{env}.yaml"]
environments = ["dev", "prod"]
"""


def test_a_helm_app_syncs_into_its_environments_namespace_and_drift_is_found(fleet):
    require_helm()
    fleet.repo.commit(CHART, "a chart")
    engine = fleet.reload(APP)
    engine.sync("web", "prod", wait=True, timeout=30)
    deployment = fleet.apps.read_namespaced_deployment("web", "trading-prod")
    assert deployment.spec.replicas == 3
    assert deployment.spec.template.spec.containers[0].image == "registry.local/web:v1.0.0"
    assert fleet.core.read_namespaced_config_map("web-settings", "trading-prod").data == {"namespace": "trading-prod"}
    rows = {(r.app, r.env): r for r in engine.status()}
    assert rows[("web", "prod")].sync == "Synced" and rows[("web", "prod")].version == "v1.0.0"
    assert not engine.drift("prod", ("web",)).drifted
    fleet.apps.patch_namespaced_deployment("web", "trading-prod", {"spec": {"replicas": 5}})
    (item,) = engine.drift("prod", ("web",)).drifted
    assert [f.path for r in item.resources for f in r.fields] == ["spec.replicas"]
    fleet.repo.commit({"charts/web/values-prod.yaml": "replicas: 3\nimage: {tag: v1.1.0}\n"}, "web v1.1.0 to prod")
    rows = {(r.app, r.env): r for r in engine.status()}
    assert rows[("web", "prod")].sync == "OutOfSync"
    engine.sync("web", "prod", wait=True, timeout=30)
    assert fleet.apps.read_namespaced_deployment("web", "trading-prod").spec.template.spec.containers[0].image == (
        "registry.local/web:v1.1.0"
    )


VALUES_PROD = """\
# production: three replicas
replicas: 3
image:
  tag: v1.0.0   # written by gitopsctl deploys
"""
VERSIONED = APP.replace(
    'values = ["values-{env}.yaml"]', 'values = ["values-{env}.yaml"]\nversion_path = "values-{env}.yaml:image.tag"'
)


def test_a_deploy_edits_one_line_of_the_environments_values_file(fleet):
    require_helm()
    fleet.repo.commit({**CHART, "charts/web/values-prod.yaml": VALUES_PROD}, "a chart")
    engine = fleet.reload(VERSIONED)
    engine.sync("web", "prod", wait=True, timeout=30)
    result = engine.deploy("web", "prod", "v1.1.0", actor="alice", wait=True, timeout=30)
    assert result.status == "Deployed", result.message
    commit = git.Repo(fleet.repo.url).commit("main")
    assert commit.hexsha == result.commit and commit.message.startswith("Deploy web v1.1.0 to prod (was v1.0.0)")
    diff = commit.parents[0].diff(commit, create_patch=True)
    assert [d.b_path for d in diff] == ["charts/web/values-prod.yaml"]
    changed = [
        line for line in diff[0].diff.decode().splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]
    assert changed == [
        "-  tag: v1.0.0   # written by gitopsctl deploys",
        "+  tag: v1.1.0   # written by gitopsctl deploys",
    ]
    assert fleet.apps.read_namespaced_deployment("web", "trading-prod").spec.template.spec.containers[0].image == (
        "registry.local/web:v1.1.0"
    )
    assert {(r.app, r.env): r for r in engine.status()}[("web", "prod")].version == "v1.1.0"
    engine.deploy("web", "prod", "2.10", actor="alice", wait=True, timeout=30)
    assert '  tag: "2.10"   # written by gitopsctl deploys' in fleet.repo.read("charts/web/values-prod.yaml"), (
        "quoted, or helm would read the number 2.1"
    )
    assert fleet.apps.read_namespaced_deployment("web", "trading-prod").spec.template.spec.containers[0].image == (
        "registry.local/web:2.10"
    )


def test_a_version_path_the_chart_does_not_deploy_is_refused_before_any_commit(fleet):
    require_helm()
    overridden = {
        **CHART,
        "charts/web/values-prod.yaml": VALUES_PROD,
        "charts/web/values-pin.yaml": "image: {tag: v0.9.0}\n",
    }
    fleet.repo.commit(overridden, "a chart whose last values file pins the tag")
    engine = fleet.reload(
        VERSIONED.replace('values = ["values-{env}.yaml"]', 'values = ["values-{env}.yaml", "values-pin.yaml"]')
    )
    head = fleet.repo.work.git.ls_remote(fleet.repo.url, "main")
    with pytest.raises(
        ManifestError, match=r"web renders its image tag in prod as v0.9.0, but values-prod.yaml:image.tag is v1.0.0"
    ):
        engine.deploy("web", "prod", "v1.1.0", actor="alice")
    fleet.repo.commit({"charts/web/values-prod.yaml": "replicas: 3\n", "charts/web/values-pin.yaml": "{}\n"}, "no tag")
    engine = fleet.reload()
    with pytest.raises(ManifestError, match=r"values-prod.yaml:image.tag is None"):
        engine.deploy("web", "prod", "v1.1.0", actor="alice")
    assert fleet.repo.work.git.ls_remote(fleet.repo.url, "main") != head
    assert git.Repo(fleet.repo.url).commit("main").message.strip() == "no tag", "no deploy commit"


def test_a_values_file_that_holds_the_same_tag_but_is_overridden_is_caught_by_rendering_the_edit(fleet):
    require_helm()
    pinned = {
        **CHART,
        "charts/web/values-prod.yaml": VALUES_PROD,
        "charts/web/values-pin.yaml": "image: {tag: v1.0.0}\n",
    }
    fleet.repo.commit(pinned, "the last values file pins the same tag")
    engine = fleet.reload(
        VERSIONED.replace('values = ["values-{env}.yaml"]', 'values = ["values-{env}.yaml", "values-pin.yaml"]')
    )
    head = fleet.repo.work.git.ls_remote(fleet.repo.url, "main")
    with pytest.raises(
        ManifestError,
        match=r"writing v1.1.0 at values-prod.yaml:image.tag would deploy web v1.0.0 in prod: the image tag does not "
        r"come from there",
    ):
        engine.deploy("web", "prod", "v1.1.0", actor="alice")
    assert fleet.repo.work.git.ls_remote(fleet.repo.url, "main") == head, "nothing committed"


def test_a_helm_app_without_a_version_path_is_refused_with_how_to_set_it(fleet):
    require_helm()
    fleet.repo.commit(CHART, "a chart")
    engine = fleet.reload(APP)
    head = fleet.repo.work.git.ls_remote(fleet.repo.url, "main")
    with pytest.raises(ManifestError, match=r"web is a Helm chart: set apps.APP.version_path"):
        engine.deploy("web", "prod", "v1.1.0", actor="alice")
    assert fleet.repo.work.git.ls_remote(fleet.repo.url, "main") == head, "no template was edited"


def test_without_helm_a_helm_app_is_an_error_in_its_row_and_other_apps_render(fleet, monkeypatch, tmp_path):
    fleet.repo.commit(CHART, "a chart")
    engine = fleet.reload(APP)
    monkeypatch.setattr("gitopsctl.source.helm.shutil.which", lambda name: None)
    monkeypatch.setattr("gitopsctl.source.helm.TOOLS_BIN", tmp_path / "no-tools")
    rows = {(r.app, r.env): r for r in engine.status()}
    assert rows[("web", "dev")].sync == "Unknown"
    assert "web is a Helm chart (its path holds a Chart.yaml) but helm is not installed; run `make helm`" in (
        rows[("web", "dev")].message
    )
    plain = rows[("trade-service", "dev")]
    assert plain.sync == "OutOfSync" and "helm" not in plain.message, "rendered, and not delivered yet"


def test_a_template_removed_from_the_chart_is_pruned_and_one_leaving_the_namespace_is_refused(fleet):
    require_helm()
    fleet.repo.commit(CHART, "a chart")
    engine = fleet.reload(APP)
    engine.sync("web", "dev", wait=True, timeout=30)
    assert fleet.core.read_namespaced_config_map("web-settings", "trading-dev").data == {"namespace": "trading-dev"}
    fleet.repo.commit({"charts/web/templates/settings.yaml": None}, "no settings any more")
    result = engine.sync("web", "dev", wait=True, timeout=30)
    assert [str(ref) for ref in result.pruned] == ["ConfigMap trading-dev/web-settings"]
    assert "web-settings" not in {c.metadata.name for c in fleet.core.list_namespaced_config_map("trading-dev").items}
    assert [(h.revision, h.pruned) for h in engine.history("web", "dev")][0] == (result.revision, 1)
    assert "no settings any more" in [r.title for r in engine.releases("web", "dev")]
    fleet.repo.commit(
        {
            "charts/web/templates/escape.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: planted, namespace: kube-system}\n"
        },
        "a template writing elsewhere",
    )
    with pytest.raises(ManifestError, match=r"ConfigMap kube-system/planted"):
        engine.sync("web", "dev", wait=True, timeout=30)
    assert "planted" not in {c.metadata.name for c in fleet.core.list_namespaced_config_map("kube-system").items}
