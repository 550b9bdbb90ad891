"""Parsing rendered manifests safely, and what gitopsctl reads from them.

YAML is loaded with ``SafeLoader`` only. A document whose aliases would expand
past a node budget (the "billion laughs") is refused after composing, before
anything is constructed, so memory stays bounded by the text's own size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from ..errors import ManifestError

MAX_EXPANDED_NODES = 1_000_000
WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"})


@dataclass(frozen=True)
class ObjectRef:
    """Identity of one Kubernetes object: group, kind, namespace, name (and the apiVersion to reach it)."""

    api_version: str
    kind: str
    namespace: str
    name: str

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def identity(self) -> tuple[str, str, str, str]:
        return (self.group, self.kind, self.namespace, self.name)

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"

    @classmethod
    def of(cls, obj: dict[str, Any]) -> ObjectRef:
        meta = obj.get("metadata") or {}
        return cls(obj.get("apiVersion", ""), obj.get("kind", ""), meta.get("namespace") or "", meta.get("name", ""))


def _expanded_size(node: yaml.Node, memo: dict[int, int], active: set[int]) -> int:
    key = id(node)
    if key in memo:
        return memo[key]
    if key in active:
        raise ManifestError("a YAML document refers to itself through an alias; refusing it")
    active.add(key)
    size = 1
    if isinstance(node, yaml.SequenceNode):
        for child in node.value:
            size += _expanded_size(child, memo, active)
            if size > MAX_EXPANDED_NODES:
                break
    elif isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            size += _expanded_size(k, memo, active) + _expanded_size(v, memo, active)
            if size > MAX_EXPANDED_NODES:
                break
    active.discard(key)
    memo[key] = size
    return size


# libyaml's safe loader when it is there (8x faster, the same safe types), else the pure-Python one
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml_documents(text: str, source: str) -> list[Any]:
    """Every YAML document in ``text``; aliases that expand too far are refused."""
    loader = _SAFE_LOADER(text)
    documents = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if _expanded_size(node, {}, set()) > MAX_EXPANDED_NODES:
                raise ManifestError(
                    f"{source}: YAML aliases expand to more than {MAX_EXPANDED_NODES:,} nodes; refusing it"
                )
            documents.append(loader.construct_document(node))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or "not valid YAML"
        raise ManifestError(f"{source}{where}: {problem}") from e
    finally:
        loader.dispose()
    return documents


def objects_from_documents(documents: list[Any], source: str) -> list[dict[str, Any]]:
    """Kubernetes objects in the documents, ``List`` kinds expanded, empty documents dropped."""
    objects = []
    for doc in documents:
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise ManifestError(f"{source}: a document is not a Kubernetes object (got a {type(doc).__name__})")
        if doc.get("kind", "").endswith("List") and isinstance(doc.get("items"), list):
            objects.extend(objects_from_documents(doc["items"], source))
            continue
        missing = [k for k in ("apiVersion", "kind") if not doc.get(k)]
        if missing or not (doc.get("metadata") or {}).get("name"):
            what = ", ".join(missing + ([] if (doc.get("metadata") or {}).get("name") else ["metadata.name"]))
            raise ManifestError(f"{source}: an object has no {what}")
        objects.append(doc)
    return objects


def check_duplicates(objects: list[dict[str, Any]], where: str) -> None:
    seen: set[tuple[str, str, str, str]] = set()
    for obj in objects:
        ref = ObjectRef.of(obj)
        if ref.identity in seen:
            raise ManifestError(f"{where}: {ref} is declared twice; each object may appear once")
        seen.add(ref.identity)


def image_repository(image: str) -> str:
    """``registry:5000/team/app:v1.4.2@sha256:...`` -> ``registry:5000/team/app``: a tag's colon is in the last part."""
    name = image.partition("@")[0]
    head, _, last = name.rpartition("/")
    last = last.partition(":")[0]
    return f"{head}/{last}" if head else last


def image_tag(image: str) -> str:
    """``registry:5000/team/app:v1.4.2@sha256:...`` -> ``v1.4.2`` (the digest when there is no tag)."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        return last.rsplit(":", 1)[1]
    return digest or "latest"


def pod_spec(obj: dict[str, Any]) -> dict[str, Any] | None:
    spec = obj.get("spec") or {}
    if obj.get("kind") == "Pod":
        return spec
    if obj.get("kind") == "CronJob":
        return (((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec")
    return (spec.get("template") or {}).get("spec")


def find_version(objects: list[dict[str, Any]], container: str) -> str | None:
    """The image tag of the named container in the app's workloads."""
    for obj in objects:
        if obj.get("kind") not in WORKLOAD_KINDS:
            continue
        for c in (pod_spec(obj) or {}).get("containers") or []:
            if c.get("name") == container and c.get("image"):
                return image_tag(str(c["image"]))
    return None
