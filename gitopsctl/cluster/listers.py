"""Lists kept current by watches, for a reader that refreshes often and may be a moment behind: the console.

A LIST of every tracked kind in every namespace of a 3,000-object fleet costs about half a second, most of it
the API server's encoding and the client's decoding of objects that did not change. Like client-go's listers, a
``Listers`` answers ``list()`` from a store: the first call LISTs, then a WATCH from that list's resourceVersion
keeps the store current. When the watch ends (the server's timeout) it resumes from the last resourceVersion it
saw; when it fails (410 Gone, a dropped connection, a refused request) the store is dropped and the next
``list()`` LISTs again, so a reader never gets a store that stopped following. ``follow()`` starts the watches of
the lists read since its last call. Writers never read through this: a sync plans against a fresh LIST.

Objects in a store are shared with every reader and must not be changed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from kubernetes import watch as k8s_watch

from .client import Cluster

log = logging.getLogger(__name__)
WATCH_SECONDS = 60  # a server-side timeout, as client-go's reflector asks for: each watch ends and resumes
# and a client-side one a little longer: a connection that died without a word (a laptop's sleep, a NAT that forgot
# it) ends the watch, so its list is read afresh, and an unreachable cluster is said, within this many seconds
READ_TIMEOUT = WATCH_SECONDS + 15
Key = tuple[str, str, str, str, str]  # apiVersion, kind, namespace ("" for all), label and field selectors ("": none)


class _Store:
    """One (apiVersion, kind, namespace, selector): objects by (namespace, name), the resourceVersion they are at."""

    def __init__(self, items: list[dict[str, Any]], resource_version: str) -> None:
        self._lock = threading.Lock()
        self._objects = {_name_of(o): o for o in items}
        self.resource_version = resource_version
        self.following = False  # until its watch is started (follow()); a list not followed is read afresh
        self.watcher = k8s_watch.Watch()

    def items(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._objects.values())

    def apply(self, event_type: str, obj: dict[str, Any]) -> None:
        with self._lock:
            if event_type == "DELETED":
                self._objects.pop(_name_of(obj), None)
            elif event_type in ("ADDED", "MODIFIED"):
                self._objects[_name_of(obj)] = obj
            self.resource_version = (obj.get("metadata") or {}).get("resourceVersion") or self.resource_version


def _name_of(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return meta.get("namespace") or "", meta.get("name") or ""


class Listers:
    """One cluster's lists (and named objects) from watched stores; every other call goes to the cluster itself.

    ``on_change`` is called (from a watch thread) after each change a watch delivers.
    """

    def __init__(self, cluster: Cluster, on_change: Callable[[], None] | None = None) -> None:
        self.cluster = cluster
        self.on_change = on_change
        self._stores: dict[Key, _Store] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.cluster, name)

    def list(
        self, api_version: str, kind: str, namespace: str | None, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        return self._listed((api_version, kind, namespace or "", label_selector or "", ""))

    def get(self, api_version: str, kind: str, name: str, namespace: str | None) -> dict[str, Any] | None:
        """One named object, from a list of that name alone (``metadata.name=``), watched as any list is."""
        found = self._listed((api_version, kind, namespace or "", "", f"metadata.name={name}"))
        return found[0] if found else None

    def _listed(self, key: Key) -> list[dict[str, Any]]:
        with self._lock:
            store = self._stores.get(key)
        if store is not None and store.following:
            return store.items()
        api_version, kind, namespace, label_selector, field_selector = key
        items, resource_version = self.cluster.listing(
            api_version, kind, namespace or None, label_selector or None, field_selector or None
        )
        if resource_version:
            with self._lock:
                self._stores[key] = _Store(items, resource_version)
        return items

    def follow(self) -> None:
        """Start a watch for each list read since the last call: after a reader's burst of lists, whose
        connections the watches would otherwise take (each list then paying a new TLS handshake)."""
        with self._lock:
            if self._stopped.is_set():
                return
            started = [(key, store) for key, store in self._stores.items() if not store.following]
            for _, store in started:
                store.following = True  # its watch delivers every change since the list, so it can answer now
        for key, store in started:
            threading.Thread(target=self._follow, args=(key, store), name=f"lister-{key[1]}", daemon=True).start()

    def following(self) -> int:
        """How many lists a watch keeps current now (a failed watch's list is read afresh next time)."""
        with self._lock:
            return sum(1 for store in self._stores.values() if store.following)

    def stop(self) -> None:
        self._stopped.set()
        with self._lock:
            stores, self._stores = list(self._stores.values()), {}
        for store in stores:
            store.following = False
            store.watcher.stop()  # checked after the next event; the thread is a daemon and its watch times out

    def _follow(self, key: Key, store: _Store) -> None:
        api_version, kind, namespace, label_selector, field_selector = key
        try:
            resource = self.cluster.resource(api_version, kind)
            while not self._stopped.is_set():
                for event in store.watcher.stream(
                    resource.get,
                    namespace=namespace or None,
                    label_selector=label_selector or None,
                    field_selector=field_selector or None,
                    resource_version=store.resource_version,
                    serialize=False,
                    timeout_seconds=WATCH_SECONDS,
                    _request_timeout=(10, READ_TIMEOUT),
                ):
                    if self._stopped.is_set():
                        return
                    obj = event.get("raw_object") or {}
                    obj.setdefault("apiVersion", api_version)
                    obj.setdefault("kind", kind)
                    store.apply(event.get("type", ""), obj)
                    if self.on_change is not None and event.get("type") != "BOOKMARK":
                        self.on_change()
        except Exception as e:  # 410 Gone, a dropped connection, a refusal: the next list() lists again
            if not self._stopped.is_set():
                log.info("stopped following %s in %s (%s); the next read lists again", kind, namespace or "*", e)
        finally:
            store.following = False
            with self._lock:
                if self._stores.get(key) is store:
                    del self._stores[key]
