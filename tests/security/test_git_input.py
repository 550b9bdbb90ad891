"""Git input is hostile (issue 13, attacks 1, 6, 7 and 8): a pusher can change manifests, never the machine.

Hostile trees are built with git plumbing (``mktree``, ``commit-tree``, ``update-ref``) straight into the bare
repository the engine reads, as a pusher can when ``receive.fsckObjects`` is off (git's default).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import git
import pytest

from demo.seed import deployment_yaml
from gitopsctl.errors import ManifestError, UnsafeInputError
from gitopsctl.source.images import set_version
from gitopsctl.source.render import Renderer
from gitopsctl.source.safety import check_tree_path
from tests.engine.conftest import all_objects

# ------------------------------------------------------------------ helpers


def _mktree(bare: git.Repo, entries: list[tuple[str, str, str, str]]) -> str:
    """A tree object from (mode, type, sha, name) entries, names unchecked, as ``git mktree`` allows."""
    listing = "".join(f"{mode} {kind} {sha}\t{name}\0" for mode, kind, sha, name in entries)
    made = subprocess.run(
        ["git", "mktree", "-z"], input=listing.encode(), cwd=bare.git_dir, capture_output=True, check=True
    )
    return made.stdout.decode().strip()


def _graft(bare: git.Repo, tree: str, parts: list[str], leaf: tuple[str, str, str]) -> str:
    """``tree`` with ``leaf`` (mode, type, sha) added at ``parts``, every tree on the way rebuilt."""
    entries = []
    for line in bare.git.ls_tree(tree).splitlines() if tree else []:
        meta, _, name = line.partition("\t")
        mode, kind, sha = meta.split()
        if name != parts[0]:
            entries.append((mode, kind, sha, name))
        elif len(parts) > 1:
            existing = sha
            break
    else:
        existing = ""
    if len(parts) == 1:
        entries.append((*leaf, parts[0]))
    else:
        entries = [e for e in entries if e[3] != parts[0]]
        entries.append(("040000", "tree", _graft(bare, existing, parts[1:], leaf), parts[0]))
    return _mktree(bare, entries)


def push_hostile_path(fleet, parts: list[str], content: bytes) -> str:
    """Commit a blob at the raw path ``parts`` on top of main, straight into the bare repo; the new head SHA."""
    bare = git.Repo(fleet.repo.bare_path)
    blob = bare.git.hash_object("-w", "--stdin", istream=_stdin(fleet.repo.bare_path, content))
    head = bare.commit("main")
    tree = _graft(bare, head.tree.hexsha, parts, ("100644", "blob", blob))
    commit = bare.git.commit_tree(tree, "-p", head.hexsha, "-m", "hostile tree")
    bare.git.update_ref("refs/heads/main", commit)
    return commit


def _stdin(where: Path, content: bytes):
    path = where / "hostile-blob"
    path.write_bytes(content)
    return path.open("rb")


def head_of(fleet) -> str:
    return git.Repo(fleet.repo.bare_path).commit("main").hexsha


# ------------------------------------------------------------- attack 1


def test_a_tree_entry_named_dot_dot_is_refused_and_writes_nothing_outside(fleet, tmp_path):
    target = tmp_path / "outside" / "pwned.txt"
    parts = ["apps", "pricing-api", "dev", *([".."] * 40), *target.parts[1:]]
    sha = push_hostile_path(fleet, parts, b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: pwned}\n")

    with pytest.raises(UnsafeInputError) as err:
        fleet.engine.sync("pricing-api", "dev", revision=sha)
    assert str(err.value).startswith("refusing the Git tree entry 'apps/pricing-api/dev/..': it has an empty, '.' or")
    assert not target.exists() and not target.parent.exists()
    assert all_objects(fleet, "trading-dev") == {}


@pytest.mark.parametrize(
    "path", ["a/../b", "/etc/passwd", "a//b", "a/./b", "..", "a\\..\\b", "a/.git/config", ".GIT/hooks/x", ""]
)
def test_tree_paths_that_could_leave_the_export_dir_are_refused(path):
    with pytest.raises(UnsafeInputError, match="refusing the Git tree entry"):
        check_tree_path(path)


def test_a_tree_holding_one_name_twice_is_refused(fleet):
    bare = git.Repo(fleet.repo.bare_path)
    head = bare.commit("main")
    entries = [(f"{e.mode:06o}", e.type, e.hexsha, e.name) for e in head.tree]
    readme = next(e for e in entries if e[3] == "README.md")
    tree = _mktree(bare, [*entries, readme])
    bare.git.update_ref("refs/heads/main", bare.git.commit_tree(tree, "-p", head.hexsha, "-m", "twice"))
    with pytest.raises(UnsafeInputError, match="'README.md': the tree holds it twice"):
        fleet.engine.sync("trade-service", "dev")
    assert all_objects(fleet, "trading-dev") == {}


# ------------------------------------------------------------- attack 6


@pytest.fixture
def git_spy(tmp_path, monkeypatch):
    """A ``git`` first on PATH that logs its arguments, and a global config mapping the attacker's remotes to a
    local payload repository (so nothing leaves the machine). Old code inherits both and renders the payload."""
    payload = git.Repo.init(tmp_path / "payload", initial_branch="main")
    (tmp_path / "payload" / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: pwned}\n")
    (tmp_path / "payload" / "kustomization.yaml").write_text("resources:\n- cm.yaml\n")
    payload.index.add(["cm.yaml", "kustomization.yaml"])
    payload.index.commit("payload", author=git.Actor("m", "m@x"), committer=git.Actor("m", "m@x"))
    config = tmp_path / "attacker.gitconfig"
    rewrites = ["https://github.com/attacker/payload", "git@host:org/repo", "ssh://git@host/org/repo"]
    config.write_text(f'[url "file://{tmp_path / "payload"}"]\n' + "".join(f"\tinsteadOf = {r}\n" for r in rewrites))
    log = tmp_path / "git-calls.log"
    spy = tmp_path / "spy-bin"
    spy.mkdir()
    (spy / "git").write_text(f'#!/bin/sh\necho "$@" >> {log}\nexec {shutil.which("git")} "$@"\n')
    (spy / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{spy}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_ALLOW_PROTOCOL", "file")  # belt and braces: never the network, whatever happens
    return log


def fetched_payload(log: Path) -> bool:
    return log.exists() and any(("payload" in line or "org/repo" in line) for line in log.read_text().splitlines())


@pytest.mark.parametrize("entry", ["github.com:attacker/payload", "git::git@host:org/repo"])
def test_remote_bases_the_old_deny_list_let_through_never_reach_git(fleet, git_spy, entry):
    fleet.repo.commit({"apps/pricing-api/dev/kustomization.yaml": f"resources:\n  - {entry}\n"}, "remote base")
    with pytest.raises(ManifestError) as err:
        fleet.engine.sync("pricing-api", "dev")
    assert str(err.value).startswith(f"apps/pricing-api/dev/kustomization.yaml: resources entry {entry!r} is refused")
    assert not fetched_payload(git_spy)
    assert all_objects(fleet, "trading-dev") == {}


def test_even_past_the_allow_list_kustomize_finds_no_git(fleet, git_spy):
    """The second wall: kustomize's environment has no git on PATH, no git config and no allowed protocol."""
    fleet.repo.commit({"apps/pricing-api/dev/kustomization.yaml": "resources:\n  - github.com:attacker/payload\n"}, "x")
    sha = fleet.engine.repo.resolve()
    with pytest.raises(ManifestError, match="kustomize could not render apps/pricing-api/dev"):
        fleet.engine.renderer._kustomize(sha, "apps/pricing-api/dev", ["apps/pricing-api/dev"])
    assert not fetched_payload(git_spy)


@pytest.mark.parametrize(
    ("kustomization", "refused"),
    [
        ("resources:\n  - ../base\npatches:\n  - path: http://127.0.0.1:9/p.yaml\n", "patches path entry"),
        ("resources:\n  - ../base\npatchesStrategicMerge:\n  - http://127.0.0.1:9/p.yaml\n", "patchesStrategicMerge"),
        (
            "resources:\n  - ../base\nconfigMapGenerator:\n  - name: c\n    files:\n      - k=http://127.0.0.1:9/f\n",
            "configMapGenerator files entry",
        ),
        ("resources:\n  - ../base\n  - git@github.com:a/b\n", "resources entry 'git@github.com:a/b'"),
        ("resources:\n  - ../base\n  - github.com/attacker/payload\n", "resources entry 'github.com/attacker"),
        ("resources:\n  - ../base?ref=main\n", "resources entry '../base?ref=main'"),
        ("resources:\n  - ../../../../etc\n", "points outside the repository"),
        ("resources:\n  - ../nothing-here\n", "does not exist in this revision"),
        ("resources:\n  - ../base\ngenerators:\n  - plugin.yaml\n", "generators entry 'plugin.yaml' does not exist"),
        (
            "resources:\n  - ../base\ntransformers:\n  - |\n    apiVersion: example.com/v1\n    kind: Exec\n    metadata: {name: x}\n",
            "not one of kustomize's builtin plugins",
        ),
        ("helmCharts:\n  - name: x\n    repo: http://127.0.0.1:9\n", "helmCharts is not allowed"),
        ("resources:\n  - ../base\nsomethingNew: x\n", "'somethingNew' is not a kustomization field"),
    ],
)
def test_kustomizations_may_only_name_files_in_the_repository(fleet, kustomization, refused):
    fleet.repo.commit({"apps/pricing-api/dev/kustomization.yaml": kustomization}, "hostile kustomization")
    with pytest.raises(ManifestError, match="^apps/pricing-api/dev/kustomization.yaml: ") as err:
        fleet.engine.sync("pricing-api", "dev")
    assert refused in str(err.value)
    assert all_objects(fleet, "trading-dev") == {}


def test_in_repo_patches_and_generators_still_render(fleet):
    fleet.repo.commit(
        {
            "apps/pricing-api/dev/kustomization.yaml": (
                "resources:\n  - ../base\n"
                "patches:\n  - path: replicas.yaml\n"
                "configMapGenerator:\n  - name: settings\n    envs: [settings.env]\n    files: [conf=app.conf, extra.txt]\n"
            ),
            "apps/pricing-api/dev/replicas.yaml": (
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: pricing-api}\nspec: {replicas: 4}\n"
            ),
            "apps/pricing-api/dev/settings.env": "MODE=fast\n",
            "apps/pricing-api/dev/app.conf": "level=debug\n",
            "apps/pricing-api/dev/extra.txt": "more\n",
        },
        "in-repo patch and generator",
    )
    rendered = fleet.engine.renderer.render(fleet.engine.repo.resolve(), "apps/pricing-api/dev")
    deployment = next(o for o in rendered.objects if o["kind"] == "Deployment")
    config = next(o for o in rendered.objects if o["kind"] == "ConfigMap")
    assert deployment["spec"]["replicas"] == 4
    assert config["data"] == {"MODE": "fast", "conf": "level=debug\n", "extra.txt": "more\n"}


# ------------------------------------------------------------- attack 7


def test_a_symlinked_kustomization_never_makes_a_deploy_write_outside_the_repository(fleet, tmp_path):
    outside = tmp_path / "outside" / "kustomization.yaml"
    outside.parent.mkdir()
    original = "images:\n  - name: registry.local/trade-service\n    newTag: v1.0.0\n"
    outside.write_text(original)
    os.symlink(outside, fleet.repo.work_path / "apps/trade-service/dev/Kustomization")
    fleet.repo.work.index.add(["apps/trade-service/dev/Kustomization"])
    fleet.repo.work.index.commit("a kustomization that is a symlink")
    fleet.repo.work.remote("origin").push("main:main").raise_if_error()
    before = head_of(fleet)

    with pytest.raises(UnsafeInputError, match=r"Kustomization is a symlink"):
        fleet.engine.deploy("trade-service", "dev", "v6.6.6")
    assert outside.read_text() == original
    assert head_of(fleet) == before
    assert all_objects(fleet, "trading-dev") == {}
    writer = fleet.engine.writer.path  # the render refuses the link before the writer has cloned
    assert not writer.exists() or not git.Repo(writer).is_dirty(untracked_files=True), (
        "the clone is as the remote has it"
    )


@pytest.mark.parametrize(
    ("name", "original"),
    [
        ("kustomization.yaml", "images:\n  - name: registry.local/app\n    newTag: v1\n"),
        ("deployment.yaml", deployment_yaml("app", "registry.local/app:v1", 1)),
    ],
)
def test_a_symlinked_parent_directory_is_refused_before_writing(tmp_path, name, original):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / name).write_text(original)
    clone = tmp_path / "clone"
    (clone / "apps").mkdir(parents=True)
    os.symlink(outside, clone / "apps" / "app")
    with pytest.raises(UnsafeInputError, match="apps/app is a symlink"):
        set_version(clone / "apps" / "app", "app", "v2", "registry.local/app")
    with pytest.raises(UnsafeInputError, match="apps/app is a symlink"):
        set_version(clone / "apps" / "app", "app", "v2", "registry.local/app", root=clone)
    assert (outside / name).read_text() == original


# ------------------------------------------------------------- attack 8


def _six_hundred_parts() -> dict[str, str]:
    """600 kustomizations with the deprecated ``commonLabels``: kubectl warns once each, ~83 KB on stderr."""
    files = {"apps/pricing-api/dev/kustomization.yaml": "resources:\n" + "".join(f"  - part-{i}\n" for i in range(600))}
    for i in range(600):
        part = f"apps/pricing-api/dev/part-{i}"
        files[f"{part}/kustomization.yaml"] = f"resources:\n  - cm.yaml\ncommonLabels:\n  part: p{i}\n"
        files[f"{part}/cm.yaml"] = f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: part-{i}\n"
    return files


def test_a_render_with_a_flood_of_warnings_finishes(fleet):
    files = _six_hundred_parts()
    for rel, text in files.items():
        (fleet.repo.work_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (fleet.repo.work_path / rel).write_text(text)
    fleet.repo.work.index.add(list(files))
    fleet.repo.work.index.commit("600 parts")
    fleet.repo.work.remote("origin").push("main:main").raise_if_error()
    sha = fleet.engine.repo.resolve()
    result: list = []
    worker = threading.Thread(
        target=lambda: result.append(fleet.engine.renderer.render(sha, "apps/pricing-api/dev")), daemon=True
    )
    worker.start()
    worker.join(timeout=90)
    assert not worker.is_alive(), "the render hung: stderr filled its pipe while stdout was read"
    assert len(result[0].objects) == 600


def fake_kustomize(tmp_path: Path, monkeypatch, stderr_bytes: int, stdout_bytes: int = 1) -> Path:
    """A ``kustomize`` first on PATH that writes ``stderr_bytes`` of warnings, ``stdout_bytes`` of output, then sleeps.

    Returns the file where it writes its pid, to show it was killed.
    """
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    pid_file = tmp_path / "fake.pid"
    script = bin_dir / "kustomize"
    script.write_text(
        f"#!{sys.executable}\n"
        "import os, sys, time\n"
        f"open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        f"sys.stderr.write('W' * {stderr_bytes}); sys.stderr.flush()\n"
        f"sys.stdout.write('a' * {stdout_bytes}); sys.stdout.flush()\n"
        "time.sleep(3600)\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return pid_file


def test_a_kustomize_that_never_ends_is_killed_at_the_timeout(fleet, tmp_path, monkeypatch):
    pid_file = fake_kustomize(tmp_path, monkeypatch, 200_000)
    renderer = Renderer(fleet.engine.repo, max_bytes=1024 * 1024, timeout=2)
    with pytest.raises(ManifestError, match=r"kustomize did not finish rendering apps/pricing-api/dev within 2 s"):
        renderer.render(fleet.engine.repo.resolve(), "apps/pricing-api/dev")
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)  # killed and reaped, not left sleeping


def test_a_kustomize_flooding_stderr_is_stopped_at_the_byte_limit(fleet, tmp_path, monkeypatch):
    pid_file = fake_kustomize(tmp_path, monkeypatch, 3 * 1024 * 1024)
    renderer = Renderer(fleet.engine.repo, max_bytes=1024 * 1024, timeout=60)
    with pytest.raises(ManifestError, match="kustomize printed more than 1 MB of warnings rendering apps/pricing-api"):
        renderer.render(fleet.engine.repo.resolve(), "apps/pricing-api/dev")
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)


def test_a_kustomize_output_over_the_render_limit_is_stopped(fleet, tmp_path, monkeypatch):
    pid_file = fake_kustomize(tmp_path, monkeypatch, 0, 3 * 1024 * 1024)
    renderer = Renderer(fleet.engine.repo, max_bytes=1024 * 1024, timeout=60)
    with pytest.raises(ManifestError, match=r"apps/pricing-api/dev renders to more than the 1 MB limit"):
        renderer.render(fleet.engine.repo.resolve(), "apps/pricing-api/dev")
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)
