"""What the benchmarks share: the sandbox cluster as its own process, as `gitopsctl sandbox up` runs it."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def sandbox_process(state_dir: Path) -> Iterator[subprocess.Popen]:
    """A sandbox serving from ``state_dir`` (its kubeconfig is ``state_dir / "kubeconfig"``) until the block ends."""
    server = subprocess.Popen(
        [sys.executable, "-m", "gitopsctl", "sandbox", "up", "--state-dir", str(state_dir)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        ready = server.stdout.readline()
        assert ready.startswith("sandbox ready:"), ready
        yield server
    finally:
        server.terminate()
        server.wait(timeout=30)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_process(config: Path, *, secret: str, slack_port: int, metrics_port: int) -> Iterator[subprocess.Popen]:
    """`gitopsctl serve --slack-mode http` as its own process until the block ends."""
    import os

    env = {**os.environ, "SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": secret}
    command = [sys.executable, "-m", "gitopsctl", "--config", str(config), "serve", "--slack-mode", "http"]
    server = subprocess.Popen(
        [*command, "--port", str(slack_port), "--metrics-port", str(metrics_port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield server
    finally:
        server.terminate()
        server.wait(timeout=60)


def metric(url: str, name: str, labels: str = "") -> float | None:
    import re
    import urllib.request

    try:
        text = urllib.request.urlopen(f"{url}/metrics", timeout=5).read().decode()  # noqa: S310 (127.0.0.1)
    except OSError:
        return None
    pattern = rf"^{re.escape(name)}(\{{[^}}]*{re.escape(labels)}[^}}]*\}})? ([0-9.e+-]+)$"
    match = re.search(pattern, text, re.MULTILINE)
    return float(match.group(2)) if match else None


def wait_until(predicate, timeout: float, what: str, interval: float = 0.05):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise RuntimeError(f"timed out waiting for {what}")


def timed_process(command: list[str], *, env: dict[str, str] | None = None) -> tuple[float, int, int, str, str]:
    """``command`` as a new process: (seconds from exec to exit, its own peak RSS in KiB from wait4, exit code,
    stdout, stderr). The time covers the interpreter's start and imports, as a user waits for them."""
    import os
    import threading
    import time

    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out: dict[str, bytes] = {}
    readers = [
        threading.Thread(target=lambda name=name, pipe=pipe: out.__setitem__(name, pipe.read()))
        for name, pipe in (("stdout", process.stdout), ("stderr", process.stderr))
    ]
    for reader in readers:
        reader.start()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    for reader in readers:
        reader.join()
    process.stdout.close()
    process.stderr.close()
    return seconds, usage.ru_maxrss, process.returncode, out["stdout"].decode(), out["stderr"].decode()


def settle(pid: int, *, below: float = 0.1, timeout: float = 600.0) -> float:
    """Wait until process ``pid`` (a sandbox) uses under ``below`` of a core over 2 s, e.g. its controllers done with
    the ReplicaSets and Pods of Deployments just applied, so they do not run during a measurement; seconds waited."""
    import os
    import time

    tick = os.sysconf("SC_CLK_TCK")

    def cpu() -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick  # utime + stime

    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        before = cpu()
        time.sleep(2)
        if cpu() - before < 2 * below:
            return time.perf_counter() - start
    raise RuntimeError(f"process {pid} was still busy after {timeout:.0f} s")
