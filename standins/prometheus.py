"""The real Prometheus server on 127.0.0.1, scraping the traffic simulator (tests and the demo).

Started as a subprocess with an argument list, its own data directory and a
free port; stopped on exit.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrometheusServer:
    def __init__(self, state_dir: Path, targets: list[str], *, scrape_interval: str = "1s") -> None:
        self.binary = shutil.which("prometheus")
        self.state_dir = Path(state_dir)
        self.port = free_port()
        self.targets = targets
        self.scrape_interval = scrape_interval
        self._process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> PrometheusServer:
        if self.binary is None:
            raise FileNotFoundError("prometheus is not installed (Debian: apt-get install -y prometheus)")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        config = self.state_dir / "prometheus.yml"
        targets = ", ".join(f'"{t}"' for t in self.targets)
        config.write_text(
            f"global:\n  scrape_interval: {self.scrape_interval}\n  evaluation_interval: {self.scrape_interval}\n"
            f"scrape_configs:\n  - job_name: sandbox-traffic\n    static_configs:\n      - targets: [{targets}]\n",
            encoding="utf-8",
        )
        self._process = subprocess.Popen(
            [
                self.binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={self.state_dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=1h",
                "--log.level=warn",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"prometheus exited: {self._process.stderr.read().decode()[-500:]}")
            if self._targets_up():
                return self
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"prometheus was not scraping its targets within {timeout:.0f}s")

    def _targets_up(self) -> bool:
        """Ready, and every target scraped at least once (discovery activates targets a few seconds after start)."""
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/targets", timeout=1) as response:  # noqa: S310 - our own server
                active = json.loads(response.read())["data"]["activeTargets"]
        except (urllib.error.URLError, OSError, ValueError, KeyError):
            return False
        return len(active) == len(self.targets) and all(t.get("health") == "up" for t in active)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=5)
        if self._process is not None and self._process.stderr is not None:
            self._process.stderr.close()

    def __enter__(self) -> PrometheusServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
