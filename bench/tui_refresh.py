"""The console (`gitopsctl tui`) with 200 apps x 3 environments, as a user starts it: a new process under a
pseudo-terminal, timed from exec to the first frame on the screen that shows the fleet; then one refresh, timed from
the refresh key to the screen showing a change made in the cluster. Side by side, in the same run:
`kubectl get deploy -A` for the same fleet.

Real parts: the sandbox cluster (its own process, bench/harness.py), a real Git repository with 600
app/environment directories all synced (bench/drift_scan.py `fleet_repo`), the console as `gitopsctl --config X tui`
(the console script: interpreter start-up and every import included) in a pseudo-terminal of COLS x ROWS with
TERM=xterm-256color, and /usr/bin/kubectl with the sandbox's kubeconfig.

How the screen is read: pyte is not installed, so the bytes Textual writes to the terminal are fed to a small
terminal model (bench/terminal.py: cursor moves, erases and text; colours ignored), and the clock stops at the read that
first makes the model's screen show the whole fleet: the status line "200 apps × 3 environments" (written in the
same UI-thread call that fills the table with all 200 rows) and every app row that fits on the screen, in order
from app-000, each with a state in all three environments. A row is two lines (version; sync · health), so 200
apps never fit one screen; once the first paint is timed, End is pressed (untimed) to check app-199 is there too.

- first paint, cold: a new process with a new cache directory (a Git clone and 600 renders).
- first paint, new process, warm disk cache: a new process on a machine that ran it before (clone and renders on
  disk), as a user starts it the second time.
- refresh: in the warm console, a ConfigMap of one app on the screen is changed in the cluster (as kubectl edit
  would), then "r" (the console's Refresh key) is written to the terminal; timed to the screen showing that
  app's [DRIFT 1] badge (the live fleet read by the engine in a worker thread from its watched lists, the changed
  cells redrawn, Textual's frame). The change also brings a refresh by itself 0.25 s later; the key's comes first.
- no key: another app's ConfigMap is changed and nothing is pressed; timed from before the PATCH to the screen
  showing the badge (reported, not judged).
- `gitopsctl --help`: a new process, exec to exit, for the share of start-up and imports (not judged).
- kubectl: `kubectl get deploy -A` as a new process, exec to exit, output read, its discovery cache warm
  (--cache-dir, filled by one untimed run); median of KUBECTL_RUNS.

Targets:
- first paint, new process, warm disk cache < 1.5 s: issue 7's claim ("first paint < 1.5 s, a new process"),
  now measured as it reads rather than in the warm benchmark interpreter.
- first paint, cold: reported beside kubectl as a ratio, not judged. It clones the repository and renders 600
  directories before it can show a state, which kubectl never does; a bound against kubectl's listing would only
  measure that (an earlier "within 3x of kubectl" could not be met by an interpreter's start-up alone).
- refresh < 100 ms: issue 7's target for one refresh, now from the key to the changed screen (it used to time
  `_show()` alone).
A missed target makes the benchmark exit 1. Run: .venv/bin/python bench/tui_refresh.py
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kubernetes import client as k8s  # noqa: E402
from kubernetes import config as kube_config  # noqa: E402

from bench.drift_scan import APPS, ENVS, fleet_repo  # noqa: E402
from bench.harness import sandbox_process  # noqa: E402
from bench.results import Row, ratio, report  # noqa: E402
from bench.terminal import COLS, GITOPSCTL, ROWS, Console  # noqa: E402
from gitopsctl import config as config_module  # noqa: E402
from gitopsctl.engine import Engine  # noqa: E402

KUBECTL = "/usr/bin/kubectl"
COLD_RUNS = 2
WARM_RUNS = 3
REFRESH_RUNS = 5
KUBECTL_RUNS = 5


APP_ROW = re.compile(r"\bapp-(\d{3})\b")
TABLE_HEADER = re.compile(r"^\s*app\s+" + r"\s+".join(ENVS) + r"\s*$")


def fleet_shown(lines: list[str]) -> bool:
    """The status line says the whole fleet; the table, from its header to the footer, is full of app rows in order
    from app-000, each with "sync · health" under it in all three environments (the last may be cut by the footer)."""
    if not any(f"{APPS} apps × {len(ENVS)} environments" in line for line in lines):
        return False
    header = next((y for y, line in enumerate(lines) if TABLE_HEADER.match(line)), None)
    footer = next((y for y in range(len(lines) - 1, -1, -1) if "Quit" in lines[y]), None)
    if header is None or footer is None or footer - header < 4:
        return False
    table = lines[header + 1 : footer]
    if any(not line.strip() for line in table):
        return False
    rows = [(y, int(m.group(1))) for y, line in enumerate(table) if (m := APP_ROW.search(line))]
    if not rows or [n for _, n in rows] != list(range(len(rows))):
        return False
    return all(table[y + 1].count(" · ") >= len(ENVS) for y, _ in rows if y + 1 < len(table))


def last_app_shown(lines: list[str]) -> bool:
    return any(f"app-{APPS - 1:03d}" in line for line in lines)


def drift_badges(expected: int) -> Callable[[list[str]], bool]:
    return lambda lines: sum(line.count("[DRIFT 1]") for line in lines) == expected


def kubectl_get_deployments(kubeconfig: Path, cache: Path) -> float:
    """`kubectl get deploy -A` as a new process, exec to exit with its output read; the seconds."""
    command = [KUBECTL, "--kubeconfig", str(kubeconfig), "--cache-dir", str(cache), "get", "deploy", "-A"]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    seconds = time.perf_counter() - started
    listed = len(done.stdout.splitlines()) - 1
    if done.returncode != 0 or listed != APPS * len(ENVS):
        raise RuntimeError(f"kubectl get deploy -A: exit {done.returncode}, {listed} rows: {done.stderr[-2000:]}")
    return seconds


def exec_to_exit(argv: list[str]) -> float:
    """``argv`` as a new process, exec to exit with its output read; the seconds."""
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{argv}: exit {done.returncode}: {done.stderr[-2000:]}")
    return seconds


def first_paint(config: Path) -> tuple[float, Console]:
    """A new console process; seconds from exec to the screen showing the fleet; the console, still running."""
    console = Console(config, "--refresh", "3600")  # no periodic refresh: only "r" refreshes while measured
    console.start()
    try:
        shown = console.wait_for(fleet_shown, "the fleet")
        console.drain(0.3)
        console.press(b"\x1b[1;5F")  # Ctrl+End: the last row, to check all 200 are in the table (untimed)
        console.wait_for(last_app_shown, f"app-{APPS - 1:03d} after Ctrl+End", timeout=30)
        console.press(b"\x1b[1;5H")  # Ctrl+Home: back to app-000
        console.wait_for(lambda lines: fleet_shown(lines) and "app-000" in "".join(lines), "app-000 again", 30)
        console.drain(0.3)
    except BaseException:
        console.stop()
        raise
    return shown - console.started, console


def seconds(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} s of {len(values)} (min {min(values):.2f}, max {max(values):.2f})"


def main() -> None:
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with sandbox_process(tmp / "cluster"):
            code = run(tmp, tmp / "cluster" / "kubeconfig")
    print(f"  (run time {time.perf_counter() - began:.0f} s, most of it the setup's 600 syncs)")
    sys.exit(code)


def run(tmp: Path, kubeconfig: Path) -> int:
    config_path = fleet_repo(tmp, kubeconfig)
    began = time.perf_counter()
    setup = Engine(config_module.load(str(config_path)))  # setup only: it syncs the fleet and fills the disk cache
    for app in setup.config.apps:
        for env in ENVS:
            assert setup.sync(app, env).result == "Succeeded"
    del setup
    print(f"setup: {APPS} apps x {len(ENVS)} environments synced in {time.perf_counter() - began:.0f} s")

    kubectl_cache = tmp / "kubectl-cache"
    kubectl_first = kubectl_get_deployments(kubeconfig, kubectl_cache)  # fills kubectl's discovery cache
    kubectl = [kubectl_get_deployments(kubeconfig, kubectl_cache) for _ in range(KUBECTL_RUNS)]

    cold = []
    for n in range(COLD_RUNS):  # each a new cache directory: a clone and 600 renders
        cold_config = tmp / f"cold-{n}.toml"
        cold_config.write_text(config_path.read_text().replace(str(tmp / "cache"), str(tmp / f"cache-cold-{n}")))
        paint, console = first_paint(cold_config)
        console.stop()
        cold.append(paint)
        print(f"first paint, cold {n + 1}: {paint:.2f} s")

    warm = []
    for n in range(WARM_RUNS):  # the disk cache the setup filled: a new process on a machine that ran it before
        paint, console = first_paint(config_path)
        warm.append(paint)
        print(f"first paint, warm disk cache {n + 1}: {paint:.2f} s")
        if n < WARM_RUNS - 1:
            console.stop()

    # the last warm console stays up: one change in the cluster, then the refresh key, timed to the screen showing it
    core = k8s.CoreV1Api(kube_config.new_client_from_config(str(kubeconfig)))
    refresh, unasked = [], []
    try:
        for n in range(REFRESH_RUNS):
            core.patch_namespaced_config_map(
                f"app-{n:03d}-config", ENVS["dev"], {"data": {"LEVEL": "debug"}}, field_manager="kubectl-edit"
            )
            pressed = console.press(b"r")
            shown = console.wait_for(drift_badges(n + 1), f"app-{n:03d}'s [DRIFT 1] in dev", timeout=60)
            refresh.append(shown - pressed)
            console.drain(0.5)  # the refresh the change itself brings (CHANGE_SETTLE after it) is over, unmeasured
        # no key: a change in the cluster reaches the screen by itself (the live fleet's watches, then one refresh)
        for n in range(REFRESH_RUNS, 2 * REFRESH_RUNS):
            changed = time.perf_counter()
            core.patch_namespaced_config_map(
                f"app-{n:03d}-config", ENVS["dev"], {"data": {"LEVEL": "debug"}}, field_manager="kubectl-edit"
            )
            shown = console.wait_for(drift_badges(n + 1), f"app-{n:03d}'s [DRIFT 1] in dev, no key", timeout=60)
            unasked.append(shown - changed)
            console.drain(0.5)
    finally:
        console.stop()
    kubectl += [kubectl_get_deployments(kubeconfig, kubectl_cache) for _ in range(KUBECTL_RUNS)]
    # the floor under any new console process: the interpreter and the imports the command line makes
    startup = [exec_to_exit([GITOPSCTL, "--help"]) for _ in range(WARM_RUNS)]

    kubectl_s, cold_s, warm_s, refresh_s = (statistics.median(v) for v in (kubectl, cold, warm, refresh))
    kubectl_what = f"`kubectl get deploy -A` (a new process, warm discovery cache, median {kubectl_s:.2f} s)"
    pty_size = f"pty {COLS}x{ROWS}"
    shown = (
        "to the screen showing the fleet (status line + full table area, read by bench/terminal.py's terminal model)"
    )
    rows = [
        Row(
            what=f"`kubectl get deploy -A`, {APPS * len(ENVS)} Deployments: a new process, exec to exit, "
            f"discovery cache warm (runs before and after the console's)",
            figure=seconds(kubectl),
        ),
        Row(
            what="`kubectl get deploy -A`, its first run: a new process, discovery cache empty",
            figure=f"{kubectl_first:.2f} s",
        ),
        Row(
            what="`gitopsctl --help` as a new process, exec to exit (interpreter start-up and the imports the "
            "command line makes, plugins included): the floor under the console's first paint",
            figure=seconds(startup),
        ),
        Row(
            what=f"console first paint, cold: `gitopsctl tui` as a new process ({pty_size}), new cache directory "
            f"(Git clone + {APPS * len(ENVS)} renders), exec {shown}",
            figure=seconds(cold),
            ratio=ratio(cold_s, kubectl_s, what=kubectl_what),
        ),
        Row(
            what=f"console first paint, a new process on a warm disk cache (clone and renders on disk; {pty_size}), "
            f"exec {shown}",
            figure=seconds(warm),
            target="< 1.5 s",
            ratio=ratio(warm_s, kubectl_s, what=kubectl_what),
            passed=warm_s < 1.5,
        ),
        Row(
            what="console refresh: one ConfigMap changed in the cluster, then the r key written to the pty, "
            "to the screen showing that app's [DRIFT 1] (engine's fleet read + redraw + Textual's frame)",
            figure=f"{statistics.median(refresh) * 1000:.0f} ms median of {len(refresh)} "
            f"(min {min(refresh) * 1000:.0f}, max {max(refresh) * 1000:.0f} ms)",
            target="< 100 ms",
            ratio=ratio(refresh_s, kubectl_s, what=kubectl_what),
            passed=refresh_s < 0.1,
        ),
        Row(
            what="console, no key: one ConfigMap changed in the cluster (the clock starts before the PATCH is sent) "
            "to the screen showing that app's [DRIFT 1] by itself (the watch's event, the console's 0.25 s settle "
            "for a burst, the refresh, Textual's frame); not judged",
            figure=f"{statistics.median(unasked) * 1000:.0f} ms median of {len(unasked)} "
            f"(min {min(unasked) * 1000:.0f}, max {max(unasked) * 1000:.0f} ms)",
        ),
    ]
    return report("tui_refresh", rows)


if __name__ == "__main__":
    main()
