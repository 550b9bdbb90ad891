"""The console's diff screen with a 5,000-line diff: time to open it, expand a section, and page down.

No cluster: the engine's diff is replaced by ten ConfigMaps of 250 changed keys
each (about 5,100 lines of unified diff), so the figure is the console's own.
Target (issue 7): responsive on a 5,000-line diff. Run: .venv/bin/python bench/tui_diff.py
"""

from __future__ import annotations

import asyncio
import sys
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gitopsctl import config as config_module  # noqa: E402
from gitopsctl.engine import DiffResult  # noqa: E402
from gitopsctl.fleet import FleetView  # noqa: E402
from gitopsctl.source.manifests import ObjectRef  # noqa: E402
from gitopsctl.sync.diff import FieldChange, ResourceDiff, describe  # noqa: E402
from tui.app import ConsoleApp  # noqa: E402
from tui.detail import DiffScreen  # noqa: E402

CONFIG = """
[git]
url = "https://git.example.com/gitops.git"
[environments.prod]
context = "prod"
[apps.big]
path = "apps/big/{env}"
"""
SHA = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


def main() -> None:
    cfg = config_module.parse(tomllib.loads(CONFIG))
    resources = []
    for i in range(10):
        live = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm{i}"}}
        live["data"] = {f"key-{j}": f"live-value-{j}" for j in range(250)}
        desired = {**live, "data": {f"key-{j}": f"git-value-{j}" for j in range(250)}}
        change = FieldChange("data", "/data", desired["data"], live["data"])
        resources.append(
            ResourceDiff(ObjectRef("v1", "ConfigMap", "prod", f"cm{i}"), "changed", [change], None, desired, live)
        )
    lines = sum(len(describe(r).splitlines()) for r in resources)
    engine = SimpleNamespace(
        config=cfg,
        fleet=lambda: FleetView(["big"], ["prod"], {}, SHA, datetime.now(UTC), []),
        diff=lambda app, env: DiffResult(app, env, SHA, resources),
    )

    async def measure() -> tuple[float, float, float]:
        app = ConsoleApp(engine, refresh_seconds=3600)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause(0.3)
            t0 = time.perf_counter()
            app.push_screen(DiffScreen(engine, "big", "prod"))
            await app.workers.wait_for_complete()
            await pilot.pause()
            opened = time.perf_counter() - t0
            t0 = time.perf_counter()
            await pilot.press("tab", "enter")
            await pilot.pause()
            expanded = time.perf_counter() - t0
            t0 = time.perf_counter()
            await pilot.press("pagedown")
            await pilot.pause()
            return opened, expanded, time.perf_counter() - t0

    opened, expanded, paged = asyncio.run(measure())
    print(f"diff                          {len(resources)} objects, {lines} lines")
    print(f"open the diff screen          {opened * 1000:.0f} ms (the first object expanded)")
    print(f"expand another object         {expanded * 1000:.0f} ms")
    print(f"page down                     {paged * 1000:.0f} ms")


if __name__ == "__main__":
    main()
