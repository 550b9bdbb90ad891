"""What programs in the containers wrote: the log lines the sandbox cannot derive from a pod's status.

The sandbox runs no containers, so whatever plays a container's program (the
traffic simulator plays every app's web server) writes its lines here, as a
real program's stdout reaches the kubelet's log file; ``kubectl logs`` reads
them back beside the derived start-up lines (see logs.py). Each container keeps
its newest ``KEPT`` lines, like a rotated log file, and a deleted pod's lines go
with it.
"""

from __future__ import annotations

import threading
import time
from collections import deque

KEPT = 1000


class ContainerOutput:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lines: dict[tuple[str, str], deque[tuple[int, str]]] = {}  # (pod uid, container) -> (ns, text)

    def write(self, pod_uid: str, container: str, text: str, at: float | None = None) -> None:
        stamp = int((time.time() if at is None else at) * 1_000_000_000)
        with self._lock:
            self._lines.setdefault((pod_uid, container), deque(maxlen=KEPT)).append((stamp, text))

    def between(self, pod_uid: str, container: str, start_ns: int, end_ns: int | None) -> list[tuple[int, str]]:
        """The lines written from ``start_ns`` (a run's start) up to ``end_ns`` (its end, if it ended)."""
        with self._lock:
            lines = list(self._lines.get((pod_uid, container), ()))
        return [(ns, text) for ns, text in lines if ns >= start_ns and (end_ns is None or ns <= end_ns)]

    def forget(self, keep_uids: set[str]) -> None:
        """Drop the lines of pods that are gone."""
        with self._lock:
            for key in [k for k in self._lines if k[0] not in keep_uids]:
                del self._lines[key]
