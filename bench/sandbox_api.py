"""Sandbox API speed: list 3,000 objects by label selector; 1,000 server-side applies.

The sandbox runs as its own process (as `gitopsctl sandbox up`); the clients are in this process. The raw JSON
list is compared with the same list through the client's DynamicClient and typed models, in the same run.
Targets (issue 2): the list (raw JSON, median) under 200 ms, the applies under 10 s, on a 2-core machine.
Run: .venv/bin/python bench/sandbox_api.py   (or: make bench)
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kubernetes import client as k8s  # noqa: E402
from kubernetes import config as kube_config  # noqa: E402
from kubernetes import dynamic  # noqa: E402

from bench.harness import sandbox_process  # noqa: E402
from bench.results import Row, ratio, report  # noqa: E402

MATCHING = 3000
OTHERS = 3000
APPLIES = 1000
RUNS = 7


def configmap(name: str, labels: dict[str, str], data: dict[str, str]) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "bench", "labels": labels},
        "data": data,
    }


def timed(fn, runs: int = RUNS) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), min(samples)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


LIST_TARGET_MS = 200
APPLY_TARGET_S = 10


def main() -> int:
    # the sandbox runs as its own process, as `gitopsctl sandbox up` runs for a person
    with tempfile.TemporaryDirectory() as tmp, sandbox_process(Path(tmp)) as server:
        return run(Path(tmp), server.pid)


def run(tmp: Path, server_pid: int) -> int:
    api_client = kube_config.new_client_from_config(str(tmp / "kubeconfig"))
    core = k8s.CoreV1Api(api_client)
    dyn = dynamic.DynamicClient(api_client, cache_file=str(tmp / "discovery.json"))
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name="bench")))

    # seeding is not measured
    seed = dyn.resources.get(api_version="v1", kind="ConfigMap")

    def create(i: int) -> None:
        labels = {"app": "bench" if i < MATCHING else "other", "shard": str(i % 10)}
        seed.create(body=configmap(f"cm-{i:05d}", labels, {"key": "x" * 64, "index": str(i)}), namespace="bench")

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(create, range(MATCHING + OTHERS)))

    def raw_list() -> int:
        response = core.list_namespaced_config_map("bench", label_selector="app=bench", _preload_content=False)
        return len(json.loads(response.data)["items"])

    def dynamic_list() -> int:
        return len(
            dyn.resources.get(api_version="v1", kind="ConfigMap")
            .get(namespace="bench", label_selector="app=bench")
            .items
        )

    def typed_list() -> int:
        return len(core.list_namespaced_config_map("bench", label_selector="app=bench").items)

    assert raw_list() == MATCHING and dynamic_list() == MATCHING and typed_list() == MATCHING
    raw_med, raw_min = timed(raw_list)
    dyn_med, dyn_min = timed(dynamic_list, 3)
    typed_med, typed_min = timed(typed_list, 3)

    configmaps = dyn.resources.get(api_version="v1", kind="ConfigMap")
    start = time.perf_counter()
    for i in range(APPLIES):
        # half create new objects, half change objects the first half created
        name = f"applied-{i % (APPLIES // 2):04d}"
        configmaps.server_side_apply(
            body=configmap(name, {"app": "applied"}, {"round": str(i // (APPLIES // 2))}),
            namespace="bench",
            field_manager="gitopsctl",
        )
    apply_seconds = time.perf_counter() - start
    assert configmaps.get(name="applied-0000", namespace="bench").data["round"] == "1"

    peak_mb = peak_rss_mb(server_pid)
    where = f"{MATCHING} of {MATCHING + OTHERS} ConfigMaps in the namespace"
    rows = [
        Row(
            what=f"list by label selector ({where}), raw JSON, sandbox its own process, median of {RUNS}",
            figure=f"{raw_med * 1000:.1f} ms (best {raw_min * 1000:.1f} ms)",
            target=f"< {LIST_TARGET_MS} ms",
            ratio=ratio(raw_med, typed_med, what="the same list through the client's typed models"),
            passed=raw_med * 1000 < LIST_TARGET_MS,
        ),
        Row(
            what="the same list through the client's DynamicClient, median of 3",
            figure=f"{dyn_med * 1000:.1f} ms (best {dyn_min * 1000:.1f} ms)",
        ),
        Row(
            what="the same list through the client's typed models, median of 3",
            figure=f"{typed_med * 1000:.1f} ms (best {typed_min * 1000:.1f} ms)",
        ),
        Row(
            what=f"{APPLIES} server-side applies, one at a time, DynamicClient (half create, half change)",
            figure=f"{apply_seconds:.2f} s ({apply_seconds / APPLIES * 1000:.1f} ms each)",
            target=f"< {APPLY_TARGET_S} s",
            passed=apply_seconds < APPLY_TARGET_S,
        ),
        Row(what="sandbox server peak memory (VmHWM) after the above", figure=f"{peak_mb:.0f} MB"),
    ]
    return report("sandbox_api", rows)


if __name__ == "__main__":
    sys.exit(main())
