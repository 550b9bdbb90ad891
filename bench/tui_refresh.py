"""The console with 200 apps x 3 environments: time to the first full fleet paint, and one refresh.

Real parts: the sandbox cluster (its own process) and a real Git repository with
600 app/environment directories, all synced; the console runs headless
(Textual's test driver) with the real engine. Prints the time from starting the
console to the fleet drawn in full, then for one refresh: reading the fleet
(the engine call, in a worker thread: the UI does not wait for it) and redrawing
the matrix (on the UI thread: what the user can feel).
Targets (issue 7): first paint < 1.5 s, one refresh < 100 ms. Run: .venv/bin/python bench/tui_refresh.py
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from textual.widgets import DataTable  # noqa: E402

from bench.drift_scan import APPS, ENVS, fleet_repo  # noqa: E402
from bench.harness import sandbox_process  # noqa: E402
from gitopsctl import config as config_module  # noqa: E402
from gitopsctl.engine import Engine  # noqa: E402
from tui.app import ConsoleApp  # noqa: E402

RUNS = 5


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with sandbox_process(tmp / "cluster"):
            run(tmp, tmp / "cluster" / "kubeconfig")


def run(tmp: Path, kubeconfig: Path) -> None:
    config_path = fleet_repo(tmp, kubeconfig)
    setup = Engine(config_module.load(str(config_path)))
    for app in setup.config.apps:
        for env in ENVS:
            setup.sync(app, env)

    async def measure(engine: Engine) -> tuple[float, list[float], list[float]]:
        started = time.perf_counter()
        console = ConsoleApp(engine, refresh_seconds=3600)
        async with console.run_test(size=(160, 50)) as pilot:
            table = console.query_one("#fleet", DataTable)
            while console.view is None or table.row_count < APPS:
                await pilot.pause(0.005)
            first_paint = time.perf_counter() - started
            reads, redraws = [], []
            for _ in range(RUNS):
                t0 = time.perf_counter()
                view = engine.fleet()
                reads.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                console._show(view)
                redraws.append(time.perf_counter() - t0)
                await pilot.pause(0.05)
        return first_paint, reads, redraws

    # the first run ever on a machine: an empty cache directory, so a clone and 600 renders
    first_ever_config = tmp / "first-ever.toml"
    first_ever_config.write_text(config_path.read_text().replace(str(tmp / "cache"), str(tmp / "cache-first-ever")))
    first_ever, _, _ = asyncio.run(measure(Engine(config_module.load(str(first_ever_config)))))
    # a new process on a machine that ran it before: the clone and the renders are on disk
    new_process, _, _ = asyncio.run(measure(Engine(config_module.load(str(config_path)))))
    first_warm, reads, redraws = asyncio.run(measure(setup))
    print(
        f"fleet                                  {APPS} apps x {len(ENVS)} environments ({APPS * len(ENVS) * 5} objects)"
    )
    print(f"first full paint, first run ever       {first_ever:.2f} s   (clone + 600 renders)")
    print(f"first full paint, a new process        {new_process:.2f} s   target < 1.5 s (renders from the disk cache)")
    print(f"first full paint, warm engine          {first_warm:.2f} s")
    print(f"one refresh: redraw (UI thread)        {statistics.median(redraws) * 1000:.0f} ms median   target < 100 ms")
    print(
        f"one refresh: fleet read (worker)       {statistics.median(reads) * 1000:.0f} ms median   (off the UI thread)"
    )


if __name__ == "__main__":
    main()
