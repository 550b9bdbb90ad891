"""How the drift scan and the fleet snapshot grow with the fleet: 200, 1,000 and 3,000 apps x 3 environments.

The fleet at each size: N apps x 3 environments x 5 objects (Deployment, Service, ConfigMap, Secret,
ServiceAccount), so 3,000, 15,000 and 45,000 objects (other sizes: --sizes 200,1000,2000), in one sandbox
cluster run as its own process, from one real Git repository holding the largest size's apps (each size's
configuration names the first N). The fleet grows in place: the apps a size adds get what engine.sync leaves behind
without going through it (bench/drift_scan.py ``fill``: the objects gitopsctl prepares applied server-side as
gitopsctl, and a sync record naming the revision, 8 app/environments at a time: about 25 a second here, where
engine.sync took 0.2 to 0.6 s per app/environment, 30 to 90 minutes for 9,000); then the benchmark waits until the
sandbox's controllers are done with the new Deployments (``settle``), so they do not run during a measurement.

At each size one new process (`bench/fleet_scale.py --measure C`) on the cache directory the filling engine used
(clone and render cache on disk) runs the drift scan once (reading the renders from disk), then ``WARM_RUNS`` times
in memory (the figure judged), then the fleet snapshot the same way. Memory is peak RSS, not tracemalloc: for the
drift scan the process's peak after its scans (getrusage), for the fleet snapshot its peak at exit (wait4), so after
both; either includes the interpreter, the clone and the renders. The API server's audit log counts each call's
requests. Targets (issue 21): time per object at the largest size within 2x of the smallest, for both reads; the
LISTs the same at every size, none repeated, and for the drift scan at most one per (kind, namespace) plus the
records. Exit 1 otherwise. Run: .venv/bin/python bench/fleet_scale.py [--sizes 200,1000,2000]
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.drift_scan import (  # noqa: E402
    ENVS,
    OBJECTS_PER_APP,
    audit_mark,
    audited,
    config_text,
    fill,
    fleet_repo,
    lists_ok,
    verbs,
)
from bench.harness import sandbox_process, settle, timed_process  # noqa: E402
from bench.results import Row, report  # noqa: E402
from demo.seed import GitOpsRepo  # noqa: E402
from gitopsctl import config as config_module  # noqa: E402
from gitopsctl.engine import Engine  # noqa: E402

SIZES = DEFAULT_SIZES = (200, 1000, 3000)  # issue 21's sizes
SETTLED = 0.1  # the sandbox's CPU use (cores) under which its controllers are done with the Deployments just added
WARM_RUNS = 2
GROWTH_TARGET = 2.0  # time per object at the largest size / at the smallest


def measure(config_path: str) -> None:
    """In a new process, for each read (the drift scan, then the fleet snapshot): one call (the first reads the
    renders from the disk cache), then WARM_RUNS in memory, each audited; JSON out."""
    import resource

    from kubernetes import config as kube_config

    config = config_module.load(config_path)
    admin = kube_config.new_client_from_config(str(next(iter(config.environments.values())).kubeconfig))
    engine = Engine(config)
    figures = {}
    for what, read in (("drift", engine.drift), ("fleet", engine.fleet)):
        start = time.perf_counter()
        read()
        first = time.perf_counter() - start
        warm, seen, result = [], [], None
        for _ in range(WARM_RUNS):
            mark = audit_mark(admin)
            start = time.perf_counter()
            result = read()
            warm.append(time.perf_counter() - start)
            seen = audited(admin, mark)[1]
        if what == "drift":
            assert not result.drifted and not result.errors, (result.drifted[:3], result.errors[:3])
            checked, states = len(result.clean), {}
        else:
            assert not result.errors, result.errors[:3]
            checked = sum(1 for c in result.cells.values() if c.sync == "Synced")
            states = {}
            for cell in result.cells.values():
                states[f"{cell.sync}/{cell.health}"] = states.get(f"{cell.sync}/{cell.health}", 0) + 1
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB: the peak so far
        figures[what] = {"first": first, "warm": warm, "events": seen, "checked": checked, "states": states, "rss": rss}
    print(json.dumps(figures))


def main() -> int:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with sandbox_process(tmp / "cluster") as server:
            rows = run(tmp, tmp / "cluster" / "kubeconfig", server.pid)
    print(f"\nfleet_scale: {time.perf_counter() - started:.0f} s in all")
    sizes = "" if SIZES == DEFAULT_SIZES else f" --sizes {','.join(map(str, SIZES))}"
    return report("fleet_scale", rows, command=f".venv/bin/python bench/fleet_scale.py{sizes}")


def run(tmp: Path, kubeconfig: Path, server_pid: int) -> list[Row]:
    step = time.perf_counter()
    biggest = fleet_repo(tmp, kubeconfig, apps=max(SIZES))
    print(f"Git repository of {max(SIZES) * len(ENVS) * OBJECTS_PER_APP} files: {time.perf_counter() - step:.0f} s")
    repo = GitOpsRepo(tmp)
    engine = Engine(config_module.load(str(biggest)))
    pairs = engine.workspace.pairs()
    app_index = {name: int(name.removeprefix("app-")) for name in engine.config.apps}  # app-000 ... app-2999
    kinds_namespaces = OBJECTS_PER_APP * len(ENVS)
    measured: dict[int, dict[str, dict]] = {}
    done = 0
    for size in SIZES:
        adding = [p for p in pairs if done <= app_index[p[0].name] < size]
        seconds = fill(engine, adding)
        waited = settle(server_pid, below=SETTLED)
        print(
            f"filled {len(adding)} app/envs in {seconds:.0f} s ({len(adding) / seconds:.0f}/s); the sandbox settled "
            f"{waited:.0f} s later",
            flush=True,
        )
        done = size
        config_path = tmp / f"fleet-{size}.toml"
        config_path.write_text(config_text(repo, kubeconfig, tmp / "cache", size))
        command = [sys.executable, str(Path(__file__).resolve()), "--measure", str(config_path)]
        wall, rss, code, out, err = timed_process(command)
        assert code == 0, err[-3000:]
        measured[size] = json.loads(out.strip().splitlines()[-1])
        measured[size]["fleet"]["rss"] = rss  # the process's peak, from wait4: after both reads
        for what in ("drift", "fleet"):
            figures = measured[size][what]
            assert figures["checked"] == size * len(ENVS), (what, figures["checked"], figures["states"])
            print(
                f"{size} apps, {what}: first {figures['first']:.2f} s, in memory "
                f"{', '.join(f'{s:.2f}' for s in figures['warm'])} s, peak RSS {figures['rss'] / 1024:.0f} MiB, "
                f"{verbs(figures['events'])} {figures['states'] or ''}",
                flush=True,
            )
        print(f"{size} apps: measuring process {wall:.0f} s, exec to exit", flush=True)

    rows = []
    for what, title in (("drift", "drift scan (engine.drift())"), ("fleet", "fleet snapshot (Engine.fleet())")):
        per_object = {}
        lists = {}
        parts = []
        for size in SIZES:
            figures = measured[size][what]
            objects = size * len(ENVS) * OBJECTS_PER_APP
            warm = statistics.median(figures["warm"])
            per_object[size] = warm / objects
            allowed = kinds_namespaces + len(ENVS) if what == "drift" else 10**6
            ok, lists[size] = lists_ok(figures["events"], allowed)
            if what == "fleet":  # GETs of named objects allowed (the freeze of each environment), never repeated LISTs
                uris = [e["requestURI"] for e in figures["events"] if e["verb"] == "list"]
                ok = len(set(uris)) == len(uris)
            lists[size] = (lists[size], ok, len(figures["events"]))
            parts.append(
                f"{size} apps ({objects} objects): {warm:.2f} s in memory = {per_object[size] * 1e6:.0f} µs/object, "
                f"first call {figures['first']:.2f} s, peak RSS {figures['rss'] / 1024:.0f} MiB, "
                f"{verbs(figures['events'])}"
            )
        small, large = min(SIZES), max(SIZES)
        growth = per_object[large] / per_object[small]
        lists_constant = len({n for n, _, _ in lists.values()}) == 1 and all(ok for _, ok, _ in lists.values())
        rows.append(
            Row(
                f"{title} at {', '.join(str(s) for s in SIZES)} apps x {len(ENVS)} envs x {OBJECTS_PER_APP} objects "
                f"(fleet filled as drift_scan.fill, not by engine.sync), in a new process on a warm disk cache: "
                f"median of {WARM_RUNS} calls in memory after a first; peak RSS of that process "
                + ("after its drift scans" if what == "drift" else "at exit, after the drift scans and the snapshots"),
                "; ".join(parts),
                target=f"time per object at {large} apps <= {GROWTH_TARGET:g}x at {small}",
                ratio=f"time per object at {large} apps is {growth:.2f}x that at {small}",
                passed=growth <= GROWTH_TARGET,
            )
        )
        rows.append(
            Row(
                f"{title}: LISTs per call at each size, counted by the API server (audit log)",
                ", ".join(f"{size} apps: {n} LISTs of {total} requests" for size, (n, _, total) in lists.items()),
                target="the same at every size, none repeated"
                + (f", <= {kinds_namespaces} (kind, namespace) + {len(ENVS)} record LISTs" if what == "drift" else ""),
                passed=lists_constant,
            )
        )
    return rows


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--measure":
        measure(sys.argv[2])
        sys.exit(0)
    if len(sys.argv) == 3 and sys.argv[1] == "--sizes":
        SIZES = tuple(int(n) for n in sys.argv[2].split(","))
    sys.exit(main())
