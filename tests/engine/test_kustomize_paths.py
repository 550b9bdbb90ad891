"""kustomize renders as kustomize renders: every field kustomize resolves to a path, symlinks, the repository's
root, kustomize's own error text, and a cache key that changes with everything a render read.

Each render is compared with ``kubectl kustomize`` run on a checkout of the same commit where that says more than
a single field would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
import yaml

from demo.seed import GitOpsRepo
from gitopsctl.errors import ManifestError, UnsafeInputError
from gitopsctl.source.render import Renderer
from gitopsctl.source.repo import GitRepository

BASE = {
    "apps/web/base/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
    "resources: [cm.yaml, deployment.yaml]\n",
    "apps/web/base/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {a: b}\n",
    "apps/web/base/deployment.yaml": textwrap.dedent(
        """\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec:
          replicas: 1
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec:
              containers: [{name: web, image: registry.local/web:v1}]
        """
    ),
}
PLUGIN_DIRS = {
    "transformers/team/kustomization.yaml": "resources: [team.yaml]\n",
    "transformers/team/team.yaml": "apiVersion: builtin\nkind: LabelTransformer\nmetadata: {name: team}\n"
    "labels: {team: payments}\nfieldSpecs: [{path: metadata/labels, create: true}]\n",
    "generators/settings/kustomization.yaml": "resources: [settings.yaml]\n",
    "generators/settings/settings.yaml": "apiVersion: builtin\nkind: ConfigMapGenerator\n"
    "metadata: {name: settings}\nliterals: [MODE=fast]\n",
    "validators/noop/kustomization.yaml": "resources: [noop.yaml]\n",
    "validators/noop/noop.yaml": "apiVersion: builtin\nkind: AnnotationsTransformer\nmetadata: {name: noop}\n"
    "annotations: {}\nfieldSpecs: [{path: metadata/annotations}]\n",
}


class Repo:
    """A GitOps repository with its renderer, as gitopsctl reads it (a bare clone, revisions from Git)."""

    def __init__(self, root: Path) -> None:
        self.git = GitOpsRepo(root)
        self.cache = root / "cache"
        self.renderer = self.new_renderer()

    def new_renderer(self) -> Renderer:
        """A renderer over the same cache directory, as a new process has."""
        return Renderer(GitRepository(self.git.url, "main", self.cache), max_bytes=8 * 1024 * 1024)

    def commit(self, files: dict[str, str | None], links: dict[str, str] | None = None) -> str:
        """Commit files (None deletes) and symlinks (path -> target, kept as Git writes them), then push."""
        sha = self.git.commit(files, "files")
        if not links:
            return sha
        for link, target in links.items():
            where = self.git.work_path / link
            where.parent.mkdir(parents=True, exist_ok=True)
            if where.is_symlink() or where.exists():
                where.unlink()
            os.symlink(target, where)
        self.git.work.index.add(list(links))
        self.git.work.index.commit("links")
        self.git.work.remote("origin").push("main:main").raise_if_error()
        return self.git.work.head.commit.hexsha

    def render(self, path: str):
        self.renderer.repo.fetch(force=True)
        return self.renderer.render(self.renderer.repo.resolve("main"), path)

    def kubectl(self, path: str) -> list[dict]:
        """What ``kubectl kustomize`` renders from a checkout of the head commit, never a render of gitopsctl's."""
        with tempfile.TemporaryDirectory() as checkout:
            subprocess.run(["git", "clone", "-q", self.git.url, checkout], check=True)
            done = subprocess.run(
                ["kubectl", "kustomize", str(Path(checkout) / path)], check=True, capture_output=True, text=True
            )
        return [d for d in yaml.safe_load_all(done.stdout) if d]


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    made = Repo(tmp_path)
    made.commit({**BASE, "README.md": "the repository\n"})
    return made


def names(rendered) -> list[str]:
    return sorted(f"{o['kind']}/{o['metadata']['name']}" for o in rendered.objects)


def overlay(body: str) -> dict[str, str]:
    return {"apps/web/dev/kustomization.yaml": textwrap.dedent(body)}


# ------------------------------------------------------------------ fields kustomize resolves to a path


def test_generators_transformers_and_validators_directories_are_exported(repo):
    repo.commit(
        {
            **PLUGIN_DIRS,
            **overlay(
                """\
                resources: [../base]
                generators: [../../../generators/settings]
                transformers: [../../../transformers/team]
                validators: [../../../validators/noop]
                """
            ),
        }
    )
    rendered = repo.render("apps/web/dev")
    assert list(rendered.objects) == repo.kubectl("apps/web/dev")
    assert all(o["metadata"]["labels"]["team"] == "payments" for o in rendered.objects if o["kind"] == "ConfigMap")
    assert any(o["metadata"]["name"].startswith("settings-") for o in rendered.objects)
    read = {part.split("=")[0] for part in rendered.cache_key[2:]}
    assert {"generators/settings", "transformers/team", "validators/noop"} <= read


def test_an_inline_transformer_stays_inline_and_is_not_taken_for_a_remote_base(repo):
    repo.commit(
        overlay(
            """\
            resources: [../base]
            transformers:
              - |
                apiVersion: builtin
                kind: PrefixSuffixTransformer
                metadata: {name: prefix}
                prefix: inline-
                fieldSpecs: [{path: metadata/name}]
            """
        )
    )
    rendered = repo.render("apps/web/dev")
    assert names(rendered) == ["ConfigMap/inline-web", "Deployment/inline-web"]
    assert list(rendered.objects) == repo.kubectl("apps/web/dev")


def test_a_plugin_that_would_run_a_program_is_refused_saying_so(repo):
    repo.commit(
        {
            "transformers/exec/kustomization.yaml": "resources: [exec.yaml]\n",
            "transformers/exec/exec.yaml": "apiVersion: someteam.example.com/v1\nkind: Exec\nmetadata: {name: x}\n",
            **overlay("resources: [../base]\ntransformers: [../../../transformers/exec]\n"),
        }
    )
    with pytest.raises(ManifestError, match="someteam.example.com/v1/Exec, which is not one of kustomize's builtin"):
        repo.render("apps/web/dev")


def test_patch_files_of_every_kind_are_exported_and_a_symlinked_one_is_read_through(repo):
    replicas = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 3}\n"
    repo.commit(
        {
            "apps/web/dev/patches/replicas.yaml": replicas,
            "apps/web/dev/labels.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web, labels: {p: sm}}\n",
            "apps/web/dev/json.yaml": "- {op: add, path: /data/json, value: patched}\n",
            **overlay(
                """\
                resources: [../base]
                patches: [{path: replicas.yaml}]
                patchesStrategicMerge: [labels.yaml]
                patchesJson6902:
                  - target: {version: v1, kind: ConfigMap, name: web}
                    path: json.yaml
                """
            ),
        },
        links={"apps/web/dev/replicas.yaml": "patches/replicas.yaml"},
    )
    rendered = repo.render("apps/web/dev")
    assert list(rendered.objects) == repo.kubectl("apps/web/dev")
    by_kind = {o["kind"]: o for o in rendered.objects}
    assert by_kind["Deployment"]["spec"]["replicas"] == 3
    assert by_kind["ConfigMap"]["metadata"]["labels"] == {"p": "sm"}
    assert by_kind["ConfigMap"]["data"]["json"] == "patched"

    repo.commit({"apps/web/dev/patches/replicas.yaml": replicas.replace("replicas: 3", "replicas: 5")})
    again = repo.render("apps/web/dev")
    assert {o["kind"]: o for o in again.objects}["Deployment"]["spec"]["replicas"] == 5, "the link's target is read"


def test_config_map_generator_files_and_envs_are_exported(repo):
    repo.commit(
        {
            "apps/web/dev/conf/app.conf": "level=debug\n",
            "apps/web/dev/settings.env": "MODE=fast\n",
            "apps/web/dev/more.env": "EXTRA=1\n",
            "apps/web/dev/motd.txt": "hello\n",
            **overlay(
                """\
                resources: [../base]
                configMapGenerator:
                  - name: settings
                    files: [conf=app.conf, motd.txt]
                    envs: [settings.env]
                  - name: legacy
                    env: more.env
                """
            ),
        },
        links={"apps/web/dev/app.conf": "conf/app.conf"},
    )
    rendered = repo.render("apps/web/dev")
    assert list(rendered.objects) == repo.kubectl("apps/web/dev")
    data = {
        o["metadata"]["name"].rsplit("-", 1)[0]: o.get("data") for o in rendered.objects if o["kind"] == "ConfigMap"
    }
    assert data["settings"] == {"MODE": "fast", "conf": "level=debug\n", "motd.txt": "hello\n"}
    assert data["legacy"] == {"EXTRA": "1"}


def test_configurations_crds_and_openapi_files_are_exported(repo):
    crd = {
        "github.com/example/pkg/apis/jingfang/v1beta1.Bee": {
            "Schema": {
                "properties": {"spec": {"properties": {"secretRef": {"x-kubernetes-object-ref-kind": "Secret"}}}}
            }
        }
    }
    repo.commit(
        {
            "apps/web/dev/schemas/schema.json": '{"definitions": {}}',
            "apps/web/dev/crd.json": json.dumps({"definitions": crd}),
            "apps/web/dev/config/images.yaml": "images:\n  - path: spec/runLatest/container/image\n    kind: Bee\n",
            "apps/web/dev/bee.yaml": "apiVersion: jingfang.example.com/v1beta1\nkind: Bee\nmetadata: {name: bee}\n"
            "spec:\n  runLatest: {container: {image: registry.local/bee}}\n",
            **overlay(
                """\
                resources: [../base, bee.yaml]
                configurations: [config/images.yaml]
                crds: [crd.json]
                openapi: {path: schema.json}
                images: [{name: registry.local/bee, newTag: v2}]
                """
            ),
        },
        links={"apps/web/dev/schema.json": "schemas/schema.json"},
    )
    rendered = repo.render("apps/web/dev")
    assert list(rendered.objects) == repo.kubectl("apps/web/dev")
    bee = next(o for o in rendered.objects if o["kind"] == "Bee")
    assert bee["spec"]["runLatest"]["container"]["image"] == "registry.local/bee:v2", "configurations were read"


@pytest.mark.parametrize(
    ("kustomization", "refused"),
    [
        ("resources: [../base]\nPatches: [{Path: 'https://127.0.0.1:9/p.yaml'}]\n", "patches path entry"),
        ("resources: [../base]\nconfigMapGenerator: [{name: c, FILES: ['k=http://127.0.0.1:9/f']}]\n", "files entry"),
        ("RESOURCES: [../base, 'github.com/attacker/payload']\n", "resources entry 'github.com/attacker/payload'"),
    ],
)
def test_a_field_spelled_in_another_case_is_checked_as_kustomize_reads_it(repo, kustomization, refused):
    """kustomize decodes a kustomization's keys ignoring case; a check reading only one spelling can be walked past."""
    repo.commit(overlay(kustomization))
    with pytest.raises(ManifestError, match="never a remote kustomize base") as err:
        repo.render("apps/web/dev")
    assert refused in str(err.value)


# ------------------------------------------------------------------ symlinks


def test_a_file_symlink_leaving_the_kustomization_is_refused_as_kustomize_refuses_it(repo):
    """kustomize resolves a file's links before its root check, on a checkout and in gitopsctl's export alike."""
    repo.commit(
        {"shared/replicas.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 3}\n"}
        | overlay("resources: [../base]\npatches: [{path: replicas.yaml}]\n"),
        links={"apps/web/dev/replicas.yaml": "../../../shared/replicas.yaml"},
    )
    with pytest.raises(ManifestError) as err:
        repo.render("apps/web/dev")
    assert "security; file 'apps/web/dev/replicas.yaml' is not in or below 'apps/web/dev'" in str(err.value)
    with pytest.raises(subprocess.CalledProcessError):
        repo.kubectl("apps/web/dev")


def test_a_base_that_is_a_symlink_inside_the_repository_renders_where_it_points(repo):
    """kustomize reads a linked base at its real path: its own ``../`` references start from there."""
    repo.commit(
        {
            "shared/web/kustomization.yaml": "resources: [../../apps/web/base]\nnamePrefix: shared-\n",
            **overlay("resources: [base-link]\n"),
        },
        links={"apps/web/dev/base-link": "../../../shared/web"},
    )
    rendered = repo.render("apps/web/dev")
    assert names(rendered) == ["ConfigMap/shared-web", "Deployment/shared-web"]
    assert list(rendered.objects) == repo.kubectl("apps/web/dev")


def test_a_symlink_pointing_out_of_the_repository_is_refused_naming_it(repo, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "kustomization.yaml").write_text("resources: []\n")
    repo.commit(overlay("resources: [../base, escape]\n"), links={"apps/web/dev/escape": "../../../../outside"})
    with pytest.raises(UnsafeInputError) as err:
        repo.render("apps/web/dev")
    assert str(err.value).startswith(
        "apps/web/dev/escape is a symlink to '../../../../outside', outside the repository; refusing it"
    )
    repo.commit({}, links={"apps/web/dev/escape": str(outside)})
    with pytest.raises(UnsafeInputError, match=f"apps/web/dev/escape is a symlink to '{outside}', outside the"):
        repo.render("apps/web/dev")


def test_a_symlink_loop_is_refused(repo):
    repo.commit(overlay("resources: [../base, loop]\n"), links={"apps/web/dev/loop": "loop"})
    with pytest.raises(ManifestError, match="apps/web/dev/loop is a symlink in a loop"):
        repo.render("apps/web/dev")


# ------------------------------------------------------------------ the repository's root


def test_an_app_at_the_repository_root_renders_plain_yaml(tmp_path):
    repo = Repo(tmp_path)
    repo.commit(
        {"cm.yaml": BASE["apps/web/base/cm.yaml"], "more/deployment.yaml": BASE["apps/web/base/deployment.yaml"]}
    )
    rendered = repo.render(".")
    assert rendered.exists and rendered.path == "."
    assert names(rendered) == ["ConfigMap/web", "Deployment/web"]


def test_an_app_at_the_repository_root_renders_with_kustomize(tmp_path):
    repo = Repo(tmp_path)
    repo.commit(
        {
            "kustomization.yaml": "resources: [base]\nnamePrefix: root-\n",
            **{name.replace("apps/web/", ""): text for name, text in BASE.items()},
        }
    )
    rendered = repo.render(".")
    assert rendered.exists and names(rendered) == ["ConfigMap/root-web", "Deployment/root-web"]
    assert list(rendered.objects) == repo.kubectl(".")
    assert rendered.cache_key[1:] == (".", f".={repo.renderer.repo.tree_id(rendered.revision, '')}")


# ------------------------------------------------------------------ kustomize's own words


def test_a_multi_line_kustomize_error_is_shown_whole_with_repository_paths(repo):
    repo.commit(
        {
            "apps/web/base/kustomization.yaml": "resources: [cm.yaml]\npatches:\n  - patch: |-\n"
            "      apiVersion: v1\n      kind: ConfigMap\n      metadata: {name: web}\n      data:\n        a: [\n",
            **overlay("resources: [../base]\n"),
        }
    )
    with pytest.raises(ManifestError) as err:
        repo.render("apps/web/dev")
    message = str(err.value)
    assert message.startswith("kustomize could not render apps/web/dev: accumulating resources")
    assert "trouble configuring builtin PatchTransformer" in message and "unable to parse SM or JSON patch" in message
    assert "\n    a: [\n" in message, "the lines after the first are kept"
    assert "'apps/web/base'" in message
    assert tempfile.gettempdir() not in message and "gitopsctl-render-" not in message
    assert "run.go" not in message and '"command failed"' not in message


def test_a_file_kustomize_cannot_find_outside_the_export_is_named_with_what_was_exported(repo):
    repo.commit(
        {
            "shared/patch.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {a: c}\n",
            **overlay(
                """\
                resources: [../base]
                transformers:
                  - |
                    apiVersion: builtin
                    kind: PatchTransformer
                    metadata: {name: from-elsewhere}
                    path: shared/patch.yaml
                """
            ),
        },
        links={"apps/web/dev/shared": "../../../shared"},
    )
    with pytest.raises(ManifestError) as err:
        repo.render("apps/web/dev")
    message = str(err.value)
    assert "shared is in the repository, but gitopsctl exported only apps/web/base, apps/web/dev" in message
    assert "is not supported" in message


def test_an_object_without_api_version_is_refused_saying_why(repo):
    repo.commit({"apps/web/dev/toy.yaml": "kind: Toy\nmetadata: {name: toy}\n", **overlay("resources: [toy.yaml]\n")})
    with pytest.raises(ManifestError) as err:
        repo.render("apps/web/dev")
    assert str(err.value) == (
        "apps/web/dev (kustomize output): an object has no apiVersion, and gitopsctl applies every rendered object "
        "to a cluster, which needs its apiVersion, kind and metadata.name to know what it is; add them to the manifests"
    )


# ------------------------------------------------------------------ no stale render


def test_a_changed_generator_config_renders_again_in_this_process_and_the_next(repo):
    repo.commit({**PLUGIN_DIRS, **overlay("resources: [../base]\ngenerators: [../../../generators/settings]\n")})
    first = repo.render("apps/web/dev")
    assert repo.renderer.renders == 1
    repo.commit({"README.md": "unrelated\n"})
    assert repo.render("apps/web/dev").cache_key == first.cache_key and repo.renderer.renders == 1

    repo.commit(
        {"generators/settings/settings.yaml": PLUGIN_DIRS["generators/settings/settings.yaml"].replace("fast", "slow")}
    )
    second = repo.render("apps/web/dev")
    assert repo.renderer.renders == 2 and second.cache_key != first.cache_key
    settings = next(o for o in second.objects if o["metadata"]["name"].startswith("settings-"))
    assert settings["data"] == {"MODE": "slow"}

    fresh = repo.new_renderer()  # a new process, starting from the renders kept on disk
    assert fresh.render(second.revision, "apps/web/dev").objects == second.objects and fresh.renders == 0
    assert fresh.render(first.revision, "apps/web/dev").objects == first.objects and fresh.renders == 0


@pytest.mark.parametrize("lines", [0, 500])
def test_a_crashing_kustomize_shows_its_message_without_stack_frames_and_bounded(repo, tmp_path, monkeypatch, lines):
    """A ``kustomize`` first on PATH that names the scratch directory, prints ``lines`` more lines, then panics."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    fake = bin_dir / "kustomize"
    fake.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        "sys.stderr.write(f\"Error: cannot read '{sys.argv[-1]}/cm.yaml'\\n\")\n"
        f"sys.stderr.write(''.join(f'detail {{i}}\\n' for i in range({lines})))\n"
        "sys.stderr.write('panic: boom\\n\\ngoroutine 1 [running]:\\nmain.main()\\n\\t/go/src/main.go:12 +0x1d\\n')\n"
        "sys.exit(2)\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    repo.commit(overlay("resources: [../base]\n"))
    with pytest.raises(ManifestError) as err:
        repo.render("apps/web/dev")
    message = str(err.value)
    assert message.startswith("kustomize could not render apps/web/dev: Error: cannot read 'apps/web/dev/cm.yaml'\n")
    assert "goroutine" not in message and "main.go" not in message and str(tmp_path) not in message
    if lines:
        assert message.endswith(" [...]") and len(message.splitlines()) == 30 and len(message) < 5000
    else:
        assert message.endswith("cm.yaml'\npanic: boom")
