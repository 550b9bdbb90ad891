"""The verbs of the Kubernetes API over the store, without HTTP.

One write pipeline serves create, update, every patch type and server-side
apply: identity fields are kept, the status subresource is honoured, kinds are
defaulted and validated (custom resources pruned and checked against their CRD's
schema, see schema.py), ``generation`` is bumped on spec changes,
``managedFields`` are recorded, a no-op write stores nothing, ``dryRun`` stores
nothing, and an object whose last finalizer goes while it is being deleted is
removed. The whole read-modify-write runs under the store lock, so a stale
resourceVersion is always caught.
"""

from __future__ import annotations

import copy
import json
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import yaml

from . import conversion, fieldmanager, schema
from .admission import admit
from .errors import (
    ApiError,
    already_exists,
    bad_request,
    conflict,
    gone,
    not_found,
    unsupported_media_type,
)
from .registry import CRD_TYPE, Registry, ResourceType
from .selectors import parse_field_selector, parse_label_selector
from .store import Event, Store
from .structure import PatchError, json_patch, merge_patch, strategic_merge_patch

APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"

# kinds whose registries answer DELETE with the deleted object instead of a Status
# (ReturnDeletedObject in kube-apiserver; the generated clients' return types say the same)
RETURNS_DELETED_OBJECT = frozenset({"Pod", "Service", "ServiceAccount", "PersistentVolumeClaim"})
_BASE_FIELDS = frozenset({"metadata.name", "metadata.namespace"})
_EXTRA_FIELDS = {
    "Event": frozenset(
        {
            "involvedObject.kind",
            "involvedObject.name",
            "involvedObject.namespace",
            "involvedObject.uid",
            "reason",
            "type",
        }
    ),
    "Pod": frozenset({"spec.nodeName", "status.phase"}),
    "Secret": frozenset({"type"}),
}


def now_rfc3339(clock: Callable[[], float] = time.time) -> str:
    return datetime.fromtimestamp(clock(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(stamp: str | None) -> float:
    """Seconds since the epoch for a Kubernetes timestamp; 0 for none."""
    if not stamp:
        return 0.0
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def _without(obj: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in keys}


class Api:
    def __init__(self, store: Store, registry: Registry) -> None:
        self.store = store
        self.registry = registry

    # ------------------------------------------------------------------ reads

    def resolve(self, group: str, version: str, plural: str) -> ResourceType:
        rt = self.registry.lookup(group, version, plural)
        if rt is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return rt

    def _stored_type(self, rt: ResourceType) -> ResourceType:
        """The version objects of ``rt``'s kind are kept in (see conversion.py); usually ``rt`` itself."""
        version = conversion.stored_version(rt.group, rt.plural, rt.version)
        return rt if version == rt.version else self.registry.lookup(rt.group, version, rt.plural) or rt

    def _out(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        obj = conversion.from_stored(rt.group, rt.plural, rt.version, obj)
        if obj.get("apiVersion") == rt.api_version and obj.get("kind") == rt.kind:
            return obj
        return {**obj, "apiVersion": rt.api_version, "kind": rt.kind}

    def get(self, rt: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        obj = self.store.get(rt.storage_key, namespace if rt.namespaced else "", name)
        if obj is None:
            raise not_found(rt.plural, rt.group, name)
        return self._out(rt, obj)

    def list(
        self,
        rt: ResourceType,
        namespace: str | None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> dict[str, Any]:
        labels = parse_label_selector(label_selector)
        fields = parse_field_selector(field_selector, _BASE_FIELDS | _EXTRA_FIELDS.get(rt.kind, frozenset()))
        items, rv = self.store.list(rt.storage_key, namespace if rt.namespaced else None)
        items = sorted(
            (self._out(rt, obj) for obj in items if labels(obj) and fields(obj)),
            key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]),
        )
        return {
            "kind": f"{rt.kind}List",
            "apiVersion": rt.api_version,
            "metadata": {"resourceVersion": str(rv)},
            "items": items,
        }

    # ----------------------------------------------------------------- writes

    def create(
        self,
        rt: ResourceType,
        namespace: str | None,
        body: Any,
        *,
        manager: str,
        dry_run: bool = False,
        applied_entries: list[dict[str, Any]] | None = None,
        field_validation: str | None = None,
        warnings: list[str] | None = None,
    ) -> dict[str, Any]:
        """Create an object; a custom resource's unknown fields go to ``warnings`` under fieldValidation=Warn."""
        validation = schema.directive(field_validation, "CreateOptions")
        if not isinstance(body, dict):
            raise bad_request("the body of the request must be a JSON object")
        if (stored := self._stored_type(rt)) is not rt:
            body = conversion.to_stored(rt.group, rt.plural, rt.version, body)
            created = self.create(
                stored,
                namespace,
                body,
                manager=manager,
                dry_run=dry_run,
                applied_entries=applied_entries,
                field_validation=field_validation,
                warnings=warnings,
            )
            return self._out(rt, created)
        self.check_type(rt, body)
        new = copy.deepcopy(body)
        new["apiVersion"], new["kind"] = rt.api_version, rt.kind
        meta = new.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        namespace = self._namespace_for(rt, namespace, meta)
        if not meta.get("name"):
            if meta.get("generateName"):
                meta["name"] = meta["generateName"] + "".join(
                    secrets.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5)
                )
            else:
                raise ApiError(
                    422,
                    "Invalid",
                    f'{rt.kind} "" is invalid: metadata.name: Required value: name or generateName is required',
                    details={
                        "kind": rt.kind,
                        "group": rt.group,
                        "causes": [
                            {
                                "reason": "FieldValueRequired",
                                "message": "Required value: name or generateName is required",
                                "field": "metadata.name",
                            }
                        ],
                    },
                )
        with self.store.lock:
            self._require_namespace(rt, namespace)
            if self.store.get(rt.storage_key, namespace, meta["name"]) is not None:
                raise already_exists(rt.plural, rt.group, meta["name"])
            for key in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields"):
                meta.pop(key, None)
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now_rfc3339()
            if rt.namespaced:
                meta["namespace"] = namespace
            else:
                meta.pop("namespace", None)
            if rt.has_generation:
                meta["generation"] = 1
            if rt.status:
                new.pop("status", None)
            schema.conform(rt, new, field_validation=validation, warnings=warnings, verb="create")
            admit(rt, new, None)
            if applied_entries is not None:
                meta["managedFields"] = applied_entries
            else:
                fieldmanager.record_update(
                    rt, None, new, manager=manager, subresource="", now=meta["creationTimestamp"]
                )
            if not meta["managedFields"]:
                meta.pop("managedFields")
            if dry_run:
                return new
            stored = self.store.put(rt.storage_key, new)
            self._after_write(rt, stored)
            return stored

    def update(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        body: Any,
        *,
        manager: str,
        dry_run: bool = False,
        subresource: str = "",
        field_validation: str | None = None,
        warnings: list[str] | None = None,
    ) -> dict[str, Any]:
        validation = schema.directive(field_validation, "UpdateOptions")
        if not isinstance(body, dict):
            raise bad_request("the body of the request must be a JSON object")
        if (stored := self._stored_type(rt)) is not rt:
            body = conversion.to_stored(rt.group, rt.plural, rt.version, body)
            updated = self.update(
                stored,
                namespace,
                name,
                body,
                manager=manager,
                dry_run=dry_run,
                subresource=subresource,
                field_validation=field_validation,
                warnings=warnings,
            )
            return self._out(rt, updated)
        self.check_type(rt, body)
        meta = body.get("metadata") or {}
        if meta.get("name") and meta["name"] != name:
            raise bad_request(f"the name of the object ({meta['name']}) does not match the name on the URL ({name})")
        namespace = self._namespace_for(rt, namespace, dict(meta))
        with self.store.lock:
            old = self.store.get(rt.storage_key, namespace, name)
            if old is None:
                if subresource:
                    raise not_found(rt.plural, rt.group, name)
                # PUT creates, as kube-apiserver allows for most kinds
                return self.create(
                    rt,
                    namespace,
                    {**body, "metadata": {**meta, "name": name}},
                    manager=manager,
                    dry_run=dry_run,
                    field_validation=validation,
                    warnings=warnings,
                )
            rv = meta.get("resourceVersion")
            if rv and rv != old["metadata"]["resourceVersion"]:
                raise conflict(rt.plural, rt.group, name)
            return self._commit(
                rt,
                old,
                copy.deepcopy(body),
                manager=manager,
                dry_run=dry_run,
                subresource=subresource,
                field_validation=validation,
                warnings=warnings,
            )

    def patch(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        raw: bytes,
        content_type: str,
        *,
        manager: str | None,
        force: bool = False,
        dry_run: bool = False,
        subresource: str = "",
        field_validation: str | None = None,
        warnings: list[str] | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Patch (or, for apply, create) an object; returns it and whether it was created."""
        validation = schema.directive(field_validation, "PatchOptions")
        content_type = content_type.split(";")[0].strip()
        patch = self._decode_patch(raw, content_type)
        stored = self._stored_type(rt)
        if content_type == APPLY:
            if not manager:
                raise bad_request("fieldManager is required for apply requests")
            if stored is not rt and isinstance(patch, dict):
                patch = conversion.to_stored(rt.group, rt.plural, rt.version, patch)
            result, created = self._apply(
                stored, namespace, name, patch, manager=manager, force=force, dry_run=dry_run, subresource=subresource
            )
            return self._out(rt, result), created
        namespace = namespace if rt.namespaced else ""
        with self.store.lock:
            old = self.store.get(rt.storage_key, namespace or "", name)
            if old is None:
                raise not_found(rt.plural, rt.group, name)
            current = self._out(rt, old)
            try:
                if content_type == JSON_PATCH:
                    if not isinstance(patch, list):
                        raise bad_request("a JSON patch must be a list of operations")
                    patched = json_patch(current, patch)
                elif content_type == MERGE:
                    patched = merge_patch(current, patch)
                elif content_type == STRATEGIC:
                    if not rt.builtin:
                        raise unsupported_media_type(content_type)
                    patched = strategic_merge_patch(rt, current, patch)
                else:
                    raise unsupported_media_type(content_type)
            except PatchError as e:
                raise ApiError(422, "Invalid", str(e)) from e
            if not isinstance(patched, dict):
                raise bad_request("the patch did not produce an object")
            pmeta = patched.get("metadata") or {}
            if pmeta.get("name") != name:
                raise bad_request("the patch may not change the object's name")
            wanted_rv = (patch.get("metadata") or {}).get("resourceVersion") if isinstance(patch, dict) else None
            if wanted_rv and wanted_rv != old["metadata"]["resourceVersion"]:
                raise conflict(rt.plural, rt.group, name)
            result = self._commit(
                stored,
                old,
                conversion.to_stored(rt.group, rt.plural, rt.version, patched),
                manager=manager or "unknown",
                dry_run=dry_run,
                subresource=subresource,
                field_validation=validation,
                warnings=warnings,
                verb="patch",
            )
            return self._out(rt, result), False

    def _apply(
        self, rt, namespace, name, applied, *, manager, force, dry_run, subresource
    ) -> tuple[dict[str, Any], bool]:
        if not isinstance(applied, dict):
            raise bad_request("an apply patch must be an object")
        if not applied.get("apiVersion") or not applied.get("kind"):
            raise bad_request("apiVersion and kind must be set in an apply patch")
        self.check_type(rt, applied)
        schema.check_applied(rt, applied)
        meta = applied.get("metadata") or {}
        if meta.get("name") and meta["name"] != name:
            raise bad_request(f"the name of the object ({meta['name']}) does not match the name on the URL ({name})")
        namespace = self._namespace_for(rt, namespace, dict(meta))
        if rt.status and subresource != "status":
            applied = _without(applied, "status")
        elif subresource == "status":
            applied = {k: v for k, v in applied.items() if k in ("apiVersion", "kind", "metadata", "status")}
        stamp = now_rfc3339()
        with self.store.lock:
            old = self.store.get(rt.storage_key, namespace, name)
            if old is None:
                if subresource:
                    raise not_found(rt.plural, rt.group, name)
                skeleton = {"apiVersion": rt.api_version, "kind": rt.kind, "metadata": {"name": name}}
                result = fieldmanager.apply(rt, skeleton, applied, manager=manager, force=force, now=stamp)
                entries = result["metadata"].pop("managedFields")
                return self.create(
                    rt, namespace, result, manager=manager, dry_run=dry_run, applied_entries=entries
                ), True
            wanted_rv = meta.get("resourceVersion")
            if wanted_rv and wanted_rv != old["metadata"]["resourceVersion"]:
                raise conflict(rt.plural, rt.group, name)
            result = fieldmanager.apply(rt, old, applied, manager=manager, force=force, now=stamp)
            return self._commit(
                rt, old, result, manager=manager, dry_run=dry_run, subresource=subresource, applied=True, verb="apply"
            ), False

    def _commit(
        self,
        rt: ResourceType,
        old: dict[str, Any],
        new: dict[str, Any],
        *,
        manager: str,
        dry_run: bool,
        subresource: str,
        applied: bool = False,
        field_validation: str = "Warn",
        warnings: list[str] | None = None,
        verb: str = "update",
    ) -> dict[str, Any]:
        """The shared tail of every write to an existing object; caller holds the store lock."""
        old_meta = old["metadata"]
        if subresource == "status":
            new = {**old, "status": new.get("status"), "metadata": dict(old_meta)}
            if new["status"] is None:
                new.pop("status")
        elif subresource == "scale":
            replicas = (new.get("spec") or {}).get("replicas")
            new = copy.deepcopy(old)
            new["spec"]["replicas"] = replicas
        else:
            if rt.status:
                new.pop("status", None)
                if "status" in old:
                    new["status"] = old["status"]
        new["apiVersion"], new["kind"] = rt.api_version, rt.kind
        meta = new.setdefault("metadata", {})
        for key in (
            "uid",
            "creationTimestamp",
            "name",
            "namespace",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ):
            if key in old_meta:
                meta[key] = old_meta[key]
            else:
                meta.pop(key, None)
        meta["resourceVersion"] = old_meta["resourceVersion"]
        schema.conform(
            rt, new, field_validation=field_validation, warnings=warnings, verb=verb, subresource=subresource
        )
        admit(rt, new, old)
        if rt.has_generation and _without(new, "metadata", "status") != _without(old, "metadata", "status"):
            meta["generation"] = old_meta.get("generation", 1) + 1
        stamp = now_rfc3339()
        if not applied:
            fieldmanager.record_update(
                rt, old, new, manager=manager, subresource=subresource if subresource == "status" else "", now=stamp
            )
        if not meta.get("managedFields"):
            meta.pop("managedFields", None)
        if not meta.get("finalizers"):
            meta.pop("finalizers", None)
        if new == old:
            return self._out(rt, old)
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            if dry_run:
                return new
            deleted = self.store.delete(rt.storage_key, meta.get("namespace", ""), meta["name"])
            self._after_delete(rt, deleted or new)
            return deleted or new
        if dry_run:
            return new
        stored = self.store.put(rt.storage_key, new)
        self._after_write(rt, stored)
        return stored

    def delete(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        options: dict[str, Any] | None = None,
        *,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        options = options or {}
        namespace = namespace if rt.namespaced else ""
        with self.store.lock:
            old = self.store.get(rt.storage_key, namespace or "", name)
            if old is None:
                raise not_found(rt.plural, rt.group, name)
            preconditions = options.get("preconditions") or {}
            if preconditions.get("uid") and preconditions["uid"] != old["metadata"]["uid"]:
                raise conflict(rt.plural, rt.group, name)
            if (
                preconditions.get("resourceVersion")
                and preconditions["resourceVersion"] != old["metadata"]["resourceVersion"]
            ):
                raise conflict(rt.plural, rt.group, name)
            policy = options.get("propagationPolicy") or ("Orphan" if options.get("orphanDependents") else "Background")
            held = bool(old["metadata"].get("finalizers")) or rt.kind == "Namespace"
            if held:
                if old["metadata"].get("deletionTimestamp"):
                    return self._out(rt, old)
                marked = copy.deepcopy(old)
                marked["metadata"]["deletionTimestamp"] = now_rfc3339()
                marked["metadata"]["deletionGracePeriodSeconds"] = 0
                if rt.kind == "Namespace":
                    marked.setdefault("status", {})["phase"] = "Terminating"
                if dry_run:
                    return marked
                stored = self.store.put(rt.storage_key, marked)
                return stored
            if dry_run:
                return self._out(rt, old)
            if policy == "Orphan":
                self._orphan_dependents(old["metadata"]["uid"])
            deleted = self.store.delete(rt.storage_key, namespace or "", name)
            self._after_delete(rt, deleted)
            if policy == "Foreground":
                self.collect_dependents(old["metadata"]["uid"])
        if rt.builtin and rt.kind in RETURNS_DELETED_OBJECT:
            return self._out(rt, deleted)
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {"name": name, "group": rt.group, "kind": rt.plural, "uid": old["metadata"]["uid"]},
        }

    def delete_collection(
        self, rt, namespace, label_selector, field_selector, options, *, dry_run=False
    ) -> dict[str, Any]:
        listed = self.list(rt, namespace, label_selector, field_selector)
        for obj in listed["items"]:
            try:
                self.delete(rt, obj["metadata"].get("namespace"), obj["metadata"]["name"], options, dry_run=dry_run)
            except ApiError as e:
                if e.code != 404:
                    raise
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}

    # ---------------------------------------------------------------- watches

    def watch(
        self,
        rt: ResourceType,
        namespace: str | None,
        resource_version: str | None,
        label_selector: str | None,
        field_selector: str | None,
        deadline: float,
        stopped: Callable[[], bool],
    ) -> Iterator[dict[str, Any]]:
        """Watch events until the deadline; ``None`` entries are keep-alive ticks.

        Bad selectors and resource versions raise here, before any event, so the caller can still
        answer them with an error instead of a stream."""
        labels = parse_label_selector(label_selector)
        fields = parse_field_selector(field_selector, _BASE_FIELDS | _EXTRA_FIELDS.get(rt.kind, frozenset()))
        if resource_version not in (None, "", "0"):
            try:
                int(resource_version)
            except ValueError as e:
                raise bad_request(f'invalid resource version "{resource_version}"') from e
        return self._events(rt, namespace, resource_version, labels, fields, deadline, stopped)

    def _events(self, rt, namespace, resource_version, labels, fields, deadline, stopped) -> Iterator[dict[str, Any]]:
        namespace = namespace if rt.namespaced else None

        def matches(obj: dict[str, Any] | None) -> bool:
            if obj is None:
                return False
            if namespace is not None and obj["metadata"].get("namespace", "") != namespace:
                return False
            return labels(obj) and fields(obj)

        if resource_version in (None, "", "0"):
            items, rv = self.store.list(rt.storage_key, namespace)
            position = rv
            for obj in sorted(items, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"])):
                if matches(obj):
                    yield {"type": "ADDED", "object": self._out(rt, obj)}
        else:
            position = int(resource_version)
            if position < self.store.history_start():
                yield {
                    "type": "ERROR",
                    "object": gone(f"too old resource version: {position} ({self.store.history_start()})").status(),
                }
                return
        while not stopped() and time.monotonic() < deadline:
            with self.store.changed:
                events = self.store.events_after(position)
                if not events:
                    self.store.changed.wait(timeout=min(1.0, max(0.0, deadline - time.monotonic())))
                    events = self.store.events_after(position)
            sent = 0
            for event in events:
                position = event.rv
                if event.storage_key != rt.storage_key:
                    continue
                for translated in self._translate(rt, event, matches):
                    sent += 1
                    yield translated
            if not sent:  # a tick when nothing matched, busy store or not: followers may look elsewhere
                yield None

    def _translate(self, rt: ResourceType, event: Event, matches) -> Iterator[dict[str, Any]]:
        now_match, was_match = matches(event.obj), matches(event.old)
        if event.type == "DELETED":
            if was_match:
                yield {"type": "DELETED", "object": self._out(rt, event.obj)}
        elif now_match:
            kind = "ADDED" if event.type == "ADDED" or not was_match else "MODIFIED"
            yield {"type": kind, "object": self._out(rt, event.obj)}
        elif was_match:
            yield {"type": "DELETED", "object": self._out(rt, event.obj)}

    # ---------------------------------------------------------------- helpers

    def check_type(self, rt: ResourceType, body: dict[str, Any]) -> None:
        kind, api_version = body.get("kind"), body.get("apiVersion")
        if kind and kind != rt.kind:
            raise bad_request(f"the kind of the object ({kind}) does not match the kind of the endpoint ({rt.kind})")
        if (
            api_version
            and api_version != rt.api_version
            and not any(v.api_version == api_version for v in self.registry.versions_of(rt.group, rt.plural))
        ):
            raise bad_request(
                f"the API version of the object ({api_version}) does not match the endpoint ({rt.api_version})"
            )

    def _namespace_for(self, rt: ResourceType, namespace: str | None, meta: dict[str, Any]) -> str:
        if not rt.namespaced:
            return ""
        body_ns = meta.get("namespace")
        if namespace and body_ns and body_ns != namespace:
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        resolved = namespace or body_ns
        if not resolved:
            raise bad_request("a namespace must be given for a namespaced resource")
        return resolved

    def _require_namespace(self, rt: ResourceType, namespace: str) -> None:
        if not rt.namespaced:
            return
        ns = self.store.get(("", "namespaces"), "", namespace)
        if ns is None:
            raise not_found("namespaces", "", namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise ApiError(
                403,
                "Forbidden",
                f"{rt.plural} is forbidden: unable to create new content in namespace {namespace} because it is being terminated",
            )

    def _decode_patch(self, raw: bytes, content_type: str) -> Any:
        try:
            if content_type == APPLY:
                return yaml.safe_load(raw.decode("utf-8"))
            return json.loads(raw or b"null")
        except (yaml.YAMLError, ValueError, UnicodeDecodeError) as e:
            raise bad_request(f"the body of the request could not be decoded: {e}") from e

    def _after_write(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        if rt.storage_key == CRD_TYPE.storage_key:
            self.registry.register_crd(obj)

    def _after_delete(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        if rt.storage_key == CRD_TYPE.storage_key:
            for served in self.registry.unregister_crd(obj["metadata"]["name"])[:1]:
                self.store.drop_kind(served.storage_key)

    def _orphan_dependents(self, owner_uid: str) -> None:
        for key, obj in self.store.all_objects():
            refs = obj["metadata"].get("ownerReferences") or []
            if any(ref.get("uid") == owner_uid for ref in refs):
                updated = copy.deepcopy(obj)
                updated["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") != owner_uid]
                if not updated["metadata"]["ownerReferences"]:
                    updated["metadata"].pop("ownerReferences")
                self.store.put(key, updated)

    def collect_dependents(self, owner_uid: str) -> None:
        """Garbage-collect objects whose owner is gone (background and foreground cascading)."""
        for key, obj in self.store.all_objects():
            refs = obj["metadata"].get("ownerReferences") or []
            if refs and any(ref.get("uid") == owner_uid for ref in refs):
                meta = obj["metadata"]
                deleted = self.store.delete(key, meta.get("namespace", ""), meta["name"])
                if deleted is not None:
                    self.collect_dependents(meta["uid"])
