"""``gitopsctl demo``: a sandbox cluster, a real GitOps repository, sync, a hand-made change, drift, heal.

Each step runs what a person would run (the ``gitopsctl`` CLI, ``kubectl``) and
the demo exits non-zero if any step does not behave as expected.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TextIO

from .. import config as config_module
from ..engine import Engine
from .cluster import Sandbox
from .seed import ENVIRONMENTS, config_text, seed


class DemoFailed(Exception):
    """A demo step did not behave as it should."""


class _Demo:
    def __init__(self, out: TextIO, root: Path, sandbox: Sandbox, config_path: Path) -> None:
        self.out = out
        self.root = root
        self.sandbox = sandbox
        self.config_path = config_path

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def run(self, title: str, command: list[str], shown: str, expect: int = 0) -> str:
        self.say(f"\n$ {shown}")
        result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
        self.out.write(result.stdout)
        if result.returncode != expect:
            self.out.write(result.stderr)
            raise DemoFailed(f"{title}: exit code {result.returncode}, expected {expect}")
        return result.stdout

    def gitopsctl(self, title: str, *args: str, expect: int = 0) -> str:
        command = [sys.executable, "-m", "gitopsctl", "--config", str(self.config_path), *args]
        return self.run(title, command, "gitopsctl " + " ".join(args), expect)

    def kubectl(self, title: str, *args: str) -> str:
        kubectl = shutil.which("kubectl")
        if kubectl is None:
            raise DemoFailed("kubectl is not installed; install it and run the demo again")
        return self.run(
            title, [kubectl, "--kubeconfig", str(self.sandbox.kubeconfig), *args], "kubectl " + " ".join(args)
        )


def run(out: TextIO = sys.stdout, state_dir: Path | None = None) -> int:
    """Run the demo; returns the process exit code."""
    with tempfile.TemporaryDirectory(prefix="gitopsctl-demo-") as tmp:
        root = state_dir or Path(tmp)
        with Sandbox.start(root / "cluster") as sandbox:
            repo = seed(root)
            config_path = root / "gitopsctl.toml"
            config_path.write_text(config_text(repo.url, sandbox.kubeconfig, root / "cache"), encoding="utf-8")
            demo = _Demo(out, root, sandbox, config_path)
            demo.say(f"sandbox ready: kubeconfig={sandbox.kubeconfig} server={sandbox.server}")
            demo.say(f"GitOps repository: {repo.url} (3 apps x {', '.join(ENVIRONMENTS)})")
            try:
                _scenario(demo)
            except DemoFailed as e:
                demo.say(f"\ndemo failed: {e}")
                return 1
        print("\nsandbox stopped; the demo is done.", file=out, flush=True)
    return 0


def _scenario(demo: _Demo) -> None:
    demo.gitopsctl("status before the first sync", "status", "--env", "prod")

    demo.say("\nSyncing every app into every environment (server-side apply, waiting for Healthy)...")
    engine = Engine(config_module.load(str(demo.config_path)))
    for app, env in ((a, e) for e in ENVIRONMENTS for a in engine.config.apps):
        result = engine.sync(app, env, wait=True, timeout=60, actor="demo")
        demo.say(
            f"  {result.result}: {app} in {env}: applied {len(result.applied)}, version {result.version}, {result.health}"
        )
        if result.result != "Succeeded":
            raise DemoFailed(f"{app} in {env} did not sync: {result.message}")

    demo.kubectl("the synced cluster", "get", "deploy", "-n", "trading-prod")
    demo.say("\nSomeone changes prod by hand...")
    demo.kubectl("a hand-made scale", "-n", "trading-prod", "scale", "deployment/trade-service", "--replicas=5")
    demo.kubectl(
        "a hand-made edit",
        "-n",
        "trading-prod",
        "patch",
        "configmap",
        "trade-service-config",
        "-p",
        '{"data":{"LOG_LEVEL":"trace"}}',
    )

    found = demo.gitopsctl("drift is found", "drift", "--env", "prod", expect=1)
    if "spec.replicas: 3 (git) != 5 (live)" not in found or "changed by kubectl-patch" not in found:
        raise DemoFailed("drift did not report the hand-made changes")
    demo.gitopsctl("sync heals it", "sync", "trade-service", "prod", "--wait", "--timeout", "1m")
    demo.gitopsctl("no drift is left", "drift", "--env", "prod", expect=0)
    demo.gitopsctl("history", "history", "trade-service", "prod")
