"""Deploy commits: one-line image edits that keep formatting, trailers, and pushes that survive a moving remote."""

from __future__ import annotations

import difflib
import textwrap
from pathlib import Path

import git
import pytest

from gitopsctl.config.model import VersionPath
from gitopsctl.errors import ManifestError, UnsafeInputError
from gitopsctl.source.images import edit_value, set_version
from gitopsctl.source.writer import GitWriter

DEPLOYMENT = textwrap.dedent(
    """\
    # trade-service in prod: owned by the trading team
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: trade-service   # do not rename
    spec:
      replicas: 3
      template:
        spec:
          containers:
          - name: sidecar
            image: registry.local/proxy:v9
          - name: trade-service
            image: "registry.local:5000/trading/trade-service:v1.4.1"  # bumped by gitopsctl
            ports: [{containerPort: 8080}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: trade-service}
    """
)

WHERE = VersionPath("values-prod.yaml", ("image", "tag"))


def changed_lines(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))
    ]


def test_a_plain_deployment_changes_exactly_one_line(tmp_path: Path):
    (tmp_path / "deployment.yaml").write_text(DEPLOYMENT)
    edit = set_version(tmp_path, "trade-service", "v1.4.2", None)
    after = (tmp_path / "deployment.yaml").read_text()
    assert (edit.old, edit.new) == ("v1.4.1", "v1.4.2")
    assert changed_lines(DEPLOYMENT, after) == [
        '-        image: "registry.local:5000/trading/trade-service:v1.4.1"  # bumped by gitopsctl',
        '+        image: "registry.local:5000/trading/trade-service:v1.4.2"  # bumped by gitopsctl',
    ]


def test_a_kustomization_changes_its_new_tag(tmp_path: Path):
    text = "resources:\n  - ../base\nimages:\n  # the app image\n  - name: registry.local/pricing-api\n    newTag: v2.0.0\n"
    (tmp_path / "kustomization.yaml").write_text(text)
    edit = set_version(tmp_path, "pricing-api", "v2.1.0", "registry.local/pricing-api")
    assert (edit.old, edit.new) == ("v2.0.0", "v2.1.0")
    assert changed_lines(text, (tmp_path / "kustomization.yaml").read_text()) == [
        "-    newTag: v2.0.0",
        "+    newTag: v2.1.0",
    ]


def test_a_kustomization_without_the_image_gets_an_entry(tmp_path: Path):
    (tmp_path / "kustomization.yaml").write_text("resources:\n  - ../base\n")
    set_version(tmp_path, "pricing-api", "v2.1.0", "registry.local/pricing-api")
    assert (
        "images:\n  - name: registry.local/pricing-api\n    newTag: v2.1.0"
        in (tmp_path / "kustomization.yaml").read_text()
    )


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (
            "image:\n  tag: v1.0.0   # written by deploys\n",
            ["-  tag: v1.0.0   # written by deploys", "+  tag: v1.1.0   # written by deploys"],
        ),
        (
            "image: {repository: r, tag: v1.0.0}\n",
            ["-image: {repository: r, tag: v1.0.0}", "+image: {repository: r, tag: v1.1.0}"],
        ),
        (
            "image: {tag: v1.0.0, pullPolicy: Always}\n",
            ["-image: {tag: v1.0.0, pullPolicy: Always}", "+image: {tag: v1.1.0, pullPolicy: Always}"],
        ),
        ("image:\n  tag: 'v1.0.0'\n", ["-  tag: 'v1.0.0'", "+  tag: 'v1.1.0'"]),
    ],
)
def test_a_version_path_changes_one_value_of_a_values_file_in_any_style(tmp_path: Path, values, expected):
    (tmp_path / "Chart.yaml").write_text("apiVersion: v2\nname: web\nversion: 0.1.0\n")
    (tmp_path / "values-prod.yaml").write_text(values)
    edit = set_version(tmp_path, "web", "v1.1.0", None, version_path=VersionPath("values-prod.yaml", ("image", "tag")))
    assert (edit.old, edit.new) == ("v1.0.0", "v1.1.0")
    assert changed_lines(values, (tmp_path / "values-prod.yaml").read_text()) == expected


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            "replicas: 3\n",
            r"values-prod.yaml has no image.tag \(nothing at 'image' under its top\); add it once by hand",
        ),
        ("image: registry.local/web:v1\n", r"values-prod.yaml has no image.tag \(nothing at 'tag' under image\)"),
        ("image:\n  tag: [v1]\n", r"values-prod.yaml:image.tag is not a one-line value"),
        ("image: {tag: v1}\n---\nimage: {tag: v2}\n", r"values-prod.yaml has no image.tag"),
    ],
)
def test_a_version_path_that_does_not_hold_a_value_changes_nothing(tmp_path: Path, values, message):
    (tmp_path / "values-prod.yaml").write_text(values)
    with pytest.raises(ManifestError, match=message):
        set_version(tmp_path, "web", "v1.1.0", None, version_path=VersionPath("values-prod.yaml", ("image", "tag")))
    assert (tmp_path / "values-prod.yaml").read_text() == values


@pytest.mark.parametrize(
    ("version", "written"),
    [
        ("v1.1.0", "v1.1.0"),
        ("release_7", "release_7"),
        ("2.10", '"2.10"'),
        ("1234e56", '"1234e56"'),
        ("0755281", '"0755281"'),
        ("y", '"y"'),
        ("On", '"On"'),
    ],
)
def test_a_version_yaml_would_read_as_a_number_or_bool_is_quoted(version, written):
    text, old = edit_value("image:\n  tag: v1.0.0  # deploys\n", WHERE, version)
    assert (text, old) == (f"image:\n  tag: {written}  # deploys\n", "v1.0.0")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ("\ufeffimage: {tag: v1.0.0}\n", "\ufeffimage: {tag: v1.1.0}\n"),
        ("image:\r\n  tag: v1.0.0\r\n# c\r\nreplicas: 1\r\n", "image:\r\n  tag: v1.1.0\r\n# c\r\nreplicas: 1\r\n"),
        ('image:\n  tag: "v1\\"0"  # c\n', 'image:\n  tag: "v1.1.0"  # c\n'),
        ("image:\n  tag: 'v1''0'\n", "image:\n  tag: 'v1.1.0'\n"),
    ],
)
def test_byte_order_marks_crlf_and_escaped_quotes_keep_the_edit_on_its_one_value(values, expected):
    assert edit_value(values, WHERE, "v1.1.0")[0] == expected


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ("image:\n  tag: &t v1.0.0\nsidecar: *t\n", "shared through the anchor &t"),
        ("base: &b\n  tag: v1.0.0\nimage: *b\nmigrations: *b\n", "shared through the anchor &b"),
        ("base: &b\n  tag: v1.0.0\nimage:\n  <<: *b\n", "shared through a merge key"),
        ("image:\n  tag:\n  pullPolicy: Always\n", "is not a one-line value"),
        ("image: {tag: , pull: Always}\n", "is not a one-line value"),
        ("image:\n  tag: !!str v1.0.0\n", "is not a one-line value"),
        ('image:\n  tag: "v1\n    more"\n', "the value on line 2 goes on over several lines"),
        ("image:\n  tag: v1.0.0\n    more\n", "cannot be changed on its one line without changing more"),
    ],
)
def test_values_one_line_cannot_change_safely_are_refused(values, message):
    with pytest.raises(ManifestError, match=message):
        edit_value(values, WHERE, "v1.1.0")


def test_a_symlinked_values_file_is_never_written_through(tmp_path: Path):
    outside = tmp_path / "outside.yaml"
    outside.write_text("image: {tag: v1}\n")
    chart = tmp_path / "repo" / "charts" / "web"
    chart.mkdir(parents=True)
    (chart / "values-prod.yaml").symlink_to(outside)
    with pytest.raises((ManifestError, UnsafeInputError)):
        set_version(
            chart,
            "web",
            "v2",
            None,
            root=tmp_path / "repo",
            version_path=VersionPath("values-prod.yaml", ("image", "tag")),
        )
    assert outside.read_text() == "image: {tag: v1}\n"


@pytest.mark.parametrize("version", ["-x", "../../etc", "v1 2", "a" * 129, ""])
def test_invalid_versions_are_refused_before_anything_changes(tmp_path: Path, version):
    (tmp_path / "deployment.yaml").write_text(DEPLOYMENT)
    with pytest.raises(ManifestError, match="is not a valid version"):
        set_version(tmp_path, "trade-service", version, None)
    assert (tmp_path / "deployment.yaml").read_text() == DEPLOYMENT


def test_an_unknown_container_is_a_clear_error(tmp_path: Path):
    (tmp_path / "deployment.yaml").write_text(DEPLOYMENT)
    with pytest.raises(ManifestError, match="no workload in .* has a container named 'api'"):
        set_version(tmp_path, "api", "v2", None)


def test_a_commit_carries_trailers_and_survives_a_remote_that_moved(fleet, tmp_path: Path):
    writer = GitWriter(fleet.repo.url, "main", tmp_path / "cache", author_name="gitopsctl", author_email="g@x")
    other = git.Repo.clone_from(fleet.repo.url, tmp_path / "teammate", branch="main")
    calls = []

    def change(root: Path) -> list[Path]:
        calls.append(1)
        if len(calls) == 1:  # a teammate pushes between our fetch and our push
            (Path(other.working_dir) / "NOTES.md").write_text("hello\n")
            other.index.add(["NOTES.md"])
            other.index.commit("teammate's change")
            other.remote("origin").push("main:main").raise_if_error()
        return [set_version(root / "apps/trade-service/prod", "trade-service", "v1.4.2", None).path]

    sha = writer.commit(
        change, "Deploy trade-service v1.4.2 to prod (was v1.4.1)", {"Deployed-by": "alice", "Approved-by": "bob"}
    )
    bare = git.Repo(fleet.repo.url)
    head = bare.commit("main")
    assert head.hexsha == sha and len(calls) == 2
    assert head.message == "Deploy trade-service v1.4.2 to prod (was v1.4.1)\n\nDeployed-by: alice\nApproved-by: bob\n"
    assert head.parents[0].message.startswith("teammate's change")
    assert "trade-service:v1.4.2" in (head.tree / "apps/trade-service/prod/deployment.yaml").data_stream.read().decode()


WRITER = """
import sys
from pathlib import Path
from gitopsctl.source.writer import GitWriter

url, cache, name = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
writer = GitWriter(url, "main", cache, author_name="gitopsctl", author_email="g@x")
for i in range(6):
    def change(root, i=i):
        path = root / f"notes/{name}-{i}.txt"
        path.parent.mkdir(exist_ok=True)
        path.write_text(f"{name} {i}\\n")
        return [path]
    print(writer.commit(change, f"{name} writes {i}", {}), flush=True)
"""


def test_processes_sharing_a_cache_directory_never_lose_a_commit(fleet, tmp_path: Path):
    """The CLI beside serve on one machine: each commit a process reports is in Git, none is dropped."""
    import subprocess
    import sys

    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    cache = tmp_path / "shared-cache"
    writers = [
        subprocess.Popen(
            [sys.executable, str(script), fleet.repo.url, str(cache), name], stdout=subprocess.PIPE, text=True
        )
        for name in ("cli", "serve-a", "serve-b")
    ]
    reported = []
    for process in writers:
        out, _ = process.communicate(timeout=120)
        assert process.returncode == 0
        reported += out.split()
    bare = git.Repo(fleet.repo.url)
    in_git = {c.hexsha for c in bare.iter_commits("main")}
    assert len(reported) == 18 and set(reported) <= in_git
    files = {blob.path for blob in bare.commit("main").tree.traverse() if blob.path.startswith("notes/")}
    assert len(files) == 18
