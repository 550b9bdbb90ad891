"""Named points where a test can kill the process, to prove that a crash right there loses nothing.

As etcd's gofail and TiKV's fail-rs: each externally visible action of a rollout
is followed by ``reach("name")``, which does nothing unless the process was
started with ``GITOPSCTL_FAILPOINT=name`` (or ``name@N`` for the N-th time it is
reached); then the process kills itself with SIGKILL, as the OOM killer or a
node's loss would, with nothing flushed and no handler run. Tests and the chaos
soak arm them in child processes; nothing else does.
"""

from __future__ import annotations

import os
import signal
import threading

ENVIRONMENT = "GITOPSCTL_FAILPOINT"

# Where a rollout has changed something outside the process and not yet saved its record.
POINTS = {
    "canary-created": "the canary Deployment is applied; the rollout record is not written yet",
    "weight-set": "the router sends the new weight to the canary; the record does not say so yet",
    "analysis-measured": "a measurement was taken; the record does not hold it yet",
    "promotion-synced": "Git's new version is applied to stable; the canary and the router are still there",
    "revert-pushed": "the revert commit is pushed; the cluster and the record are not back yet",
    "record-saved": "the rollout record was written (armed with @N: the N-th write)",
}

_lock = threading.Lock()
_reached: dict[str, int] = {}


def armed() -> tuple[str, int] | None:
    """The point and the pass to kill at that ``GITOPSCTL_FAILPOINT`` names, or None."""
    text = os.environ.get(ENVIRONMENT, "").strip()
    if not text:
        return None
    name, _, nth = text.partition("@")
    if name not in POINTS or (nth and (not nth.isdigit() or int(nth) == 0)):
        known = ", ".join(sorted(POINTS))
        raise ValueError(f"{ENVIRONMENT}={text!r} names no fail point; known: {known} (optionally @N)")
    return name, int(nth or 1)


def reach(name: str) -> None:
    """Killed here with SIGKILL if this point is armed and this is the pass it names."""
    point = armed()
    if point is None or point[0] != name:
        return
    with _lock:
        _reached[name] = _reached.get(name, 0) + 1
        if _reached[name] == point[1]:
            os.kill(os.getpid(), signal.SIGKILL)
