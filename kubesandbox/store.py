"""Objects, resourceVersions and the event history watches read from.

Stored objects are never mutated: every write stores a new dict, so readers can
hand out references without copying. One global resourceVersion counter orders
all writes, as etcd's revision does. Writes are appended to a journal in the
state directory; a restarted sandbox replays it and compacts it.
"""

from __future__ import annotations

import json
import os
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .output import ContainerOutput

StorageKey = tuple[str, str]  # (group, plural)
ObjectKey = tuple[str, str]  # (namespace, name)

EVENT_WINDOW = 20_000


@dataclass(frozen=True)
class Event:
    rv: int
    storage_key: StorageKey
    type: str  # ADDED | MODIFIED | DELETED
    obj: dict[str, Any]
    old: dict[str, Any] | None


def _object_key(obj: dict[str, Any]) -> ObjectKey:
    meta = obj["metadata"]
    return (meta.get("namespace") or "", meta["name"])


class Store:
    def __init__(self, state_dir: Path | None = None) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self._objects: dict[StorageKey, dict[ObjectKey, dict[str, Any]]] = {}
        self._rv = 0
        self._events: deque[Event] = deque(maxlen=EVENT_WINDOW)
        self._listeners: list[Callable[[Event], None]] = []
        self.output = ContainerOutput()  # what the containers' stand-in programs wrote (kubectl logs)
        self._journal = None
        if state_dir is not None:
            self._journal_path = Path(state_dir) / "objects.jsonl"
            self._replay()
            self._journal = open(self._journal_path, "a", encoding="utf-8")  # noqa: SIM115
        self._history_start = self._rv

    # ------------------------------------------------------------ persistence

    def _replay(self) -> None:
        if self._journal_path.exists():
            with open(self._journal_path, encoding="utf-8") as journal:
                for line in journal:
                    if not line.strip():
                        continue
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError:
                        break  # a torn last line from a crash; what came before is intact
                    key = tuple(record["key"])
                    bucket = self._objects.setdefault(key, {})
                    if record["op"] == "put":
                        bucket[_object_key(record["obj"])] = record["obj"]
                    else:
                        bucket.pop(tuple(record["id"]), None)
                    self._rv = max(self._rv, record["rv"])
        tmp = self._journal_path.with_suffix(".tmp")
        # the journal holds every Secret: only the sandbox's owner may read it
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            for key, bucket in self._objects.items():
                for obj in bucket.values():
                    out.write(json.dumps({"op": "put", "key": key, "rv": self._rv, "obj": obj}) + "\n")
        os.replace(tmp, self._journal_path)

    def _log(self, record: dict[str, Any]) -> None:
        if self._journal is not None:
            self._journal.write(json.dumps(record, separators=(",", ":")) + "\n")
            self._journal.flush()

    def close(self) -> None:
        with self.lock:
            if self._journal is not None:
                self._journal.close()
                self._journal = None

    # ----------------------------------------------------------------- reads

    @property
    def resource_version(self) -> int:
        with self.lock:
            return self._rv

    def get(self, key: StorageKey, namespace: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            return self._objects.get(key, {}).get((namespace, name))

    def list(self, key: StorageKey, namespace: str | None = None) -> tuple[list[dict[str, Any]], int]:
        """Objects of a kind (in one namespace, or all) and the resourceVersion they are as of."""
        with self.lock:
            bucket = self._objects.get(key, {})
            if namespace is None:
                items = list(bucket.values())
            else:
                items = [obj for (ns, _), obj in bucket.items() if ns == namespace]
            return items, self._rv

    def namespaces_in_use(self, namespace: str) -> list[tuple[StorageKey, dict[str, Any]]]:
        with self.lock:
            return [
                (key, obj)
                for key, bucket in self._objects.items()
                for (ns, _), obj in bucket.items()
                if ns == namespace
            ]

    def all_objects(self) -> list[tuple[StorageKey, dict[str, Any]]]:
        with self.lock:
            return [(key, obj) for key, bucket in self._objects.items() for obj in bucket.values()]

    # ---------------------------------------------------------------- writes

    def next_rv(self) -> int:
        with self.lock:
            return self._rv + 1

    def put(self, key: StorageKey, obj: dict[str, Any]) -> dict[str, Any]:
        """Store ``obj`` (metadata.resourceVersion is set here) and emit ADDED or MODIFIED."""
        with self.lock:
            self._rv += 1
            obj["metadata"]["resourceVersion"] = str(self._rv)
            bucket = self._objects.setdefault(key, {})
            old = bucket.get(_object_key(obj))
            bucket[_object_key(obj)] = obj
            self._log({"op": "put", "key": key, "rv": self._rv, "obj": obj})
            self._emit(Event(self._rv, key, "MODIFIED" if old is not None else "ADDED", obj, old))
            return obj

    def delete(self, key: StorageKey, namespace: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            old = self._objects.get(key, {}).pop((namespace, name), None)
            if old is None:
                return None
            self._rv += 1
            final = {**old, "metadata": {**old["metadata"], "resourceVersion": str(self._rv)}}
            self._log({"op": "del", "key": key, "rv": self._rv, "id": [namespace, name]})
            self._emit(Event(self._rv, key, "DELETED", final, old))
            return final

    def drop_kind(self, key: StorageKey) -> list[dict[str, Any]]:
        """Delete every object of a kind (its CRD went away)."""
        with self.lock:
            objs = list(self._objects.get(key, {}).values())
        return [d for obj in objs if (d := self.delete(key, *_object_key(obj))) is not None]

    # ---------------------------------------------------------------- events

    def subscribe(self, listener: Callable[[Event], None]) -> None:
        with self.lock:
            self._listeners.append(listener)

    def _emit(self, event: Event) -> None:
        if len(self._events) == self._events.maxlen:
            self._history_start = self._events[0].rv
        self._events.append(event)
        for listener in self._listeners:
            listener(event)
        self.changed.notify_all()

    def history_start(self) -> int:
        """Watches may resume from any resourceVersion at or after this one."""
        with self.lock:
            return self._history_start

    def events_after(self, rv: int) -> list[Event]:
        with self.lock:
            found = []
            for event in reversed(self._events):
                if event.rv <= rv:
                    break
                found.append(event)
            found.reverse()
            return found
