"""Container logs of pods whose containers never ran: lines derived from the pod's status alone.

The sandbox runs no containers (see controllers.py), yet ``kubectl logs``, log
followers and dashboards expect text, and tests of them need it to be the same on
every request. So each container instance the status describes (``state.running``,
``state.terminated``, ``lastState.terminated``) gets the lines its program would
have written: start-up (image, listening ports, ready), then a finished Job pod's
completion line or a ``-crashloop`` image's crash error, stamped from that
instance's ``startedAt``/``finishedAt``, so ``--timestamps`` and ``--since-seconds``
mean what they do on a cluster. Nothing is stored: lines always agree with the
pod. Refusals carry kube-apiserver's and the kubelet's own messages.

What a stand-in for the container's program wrote (the traffic simulator's
access-log lines for each request it sends a pod, see output.py) is read back
in its place among them, by time.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .controllers import CRASHLOOP_SUFFIX
from .errors import ApiError, bad_request, invalid
from .output import ContainerOutput

Entry = tuple[str, str]  # (RFC3339Nano timestamp, text)
_LINE_NS = 1_000_000  # a program's consecutive lines, a millisecond apart


@dataclass(frozen=True)
class LogOptions:
    """The query of ``GET .../pods/NAME/log`` (PodLogOptions), checked as kube-apiserver checks it."""

    container: str | None = None
    follow: bool = False
    previous: bool = False
    timestamps: bool = False
    tail_lines: int | None = None
    since: float | None = None  # seconds since the epoch: older lines are left out
    limit_bytes: int | None = None

    @classmethod
    def from_query(cls, query: Mapping[str, str], pod: str, now: float | None = None) -> LogOptions:
        """Options from the query string; 400 for a value that does not parse, 422 for one out of range."""
        tail, limit, since_seconds = (_integer(query, key) for key in ("tailLines", "limitBytes", "sinceSeconds"))
        causes = []
        if tail is not None and tail < 0:
            causes.append(
                ("FieldValueInvalid", f"Invalid value: {tail}: must be greater than or equal to 0", "tailLines")
            )
        if limit is not None and limit < 1:
            causes.append(("FieldValueInvalid", f"Invalid value: {limit}: must be greater than 0", "limitBytes"))
        since = None
        if since_seconds is not None and query.get("sinceTime") is not None:
            causes.append(
                ("FieldValueForbidden", "Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified", "")
            )
        elif since_seconds is not None:
            if since_seconds < 1:
                causes.append(
                    ("FieldValueInvalid", f"Invalid value: {since_seconds}: must be greater than 0", "sinceSeconds")
                )
            since = (time.time() if now is None else now) - since_seconds
        elif query.get("sinceTime") is not None:
            since = _since_time(query["sinceTime"])
        if causes:
            raise invalid("PodLogOptions", "", pod, causes)
        return cls(
            container=query.get("container") or None,
            follow=_boolean(query.get("follow")),
            previous=_boolean(query.get("previous")),
            timestamps=_boolean(query.get("timestamps")),
            tail_lines=tail,
            since=since,
            limit_bytes=limit,
        )


def lines(
    pod: dict[str, Any], container: str | None, previous: bool, output: ContainerOutput | None = None
) -> list[Entry]:
    """The log of ``container``'s current instance (``previous``: its last terminated one), oldest first."""
    spec = _container(pod, container)
    started, ended = _instance(pod, spec["name"], previous)
    return _run(pod, spec, started, ended, output)


def stream(
    pod: dict[str, Any],
    options: LogOptions,
    events: Iterable[dict[str, Any] | None] = (),
    output: ContainerOutput | None = None,
) -> Iterator[bytes]:
    """The response body, a chunk per line; refusals are raised here, before the first chunk.

    With ``options.follow``, ``events`` are the pod's watch events after ``pod`` (``None`` ticks allowed):
    lines the followed instance writes later (a Job pod's completion) come as its status changes, and the
    stream ends, as the kubelet's does, once that instance has ended, the pod is gone or ``events`` are.
    """
    spec = _container(pod, options.container)
    started, ended = _instance(pod, spec["name"], options.previous)
    first = _run(pod, spec, started, ended, output)
    batches: Iterable[list[Entry]] = [first]
    if options.follow and not options.previous and ended is None:
        batches = _following(pod, spec, started, first, events, output)
    return _render(batches, options)


# ------------------------------------------------------------------ internals


def _container(pod: dict[str, Any], name: str | None) -> dict[str, Any]:
    """The container the request names, or the pod's only one (kube-apiserver's LogLocation)."""
    pod_name = pod["metadata"]["name"]
    spec = pod.get("spec") or {}
    containers = spec.get("containers") or []
    if name is None:
        if len(containers) == 1:
            return containers[0]
        message = f"a container name must be specified for pod {pod_name}, choose one of: [{_names(containers)}]"
        if spec.get("initContainers"):
            message += f" or one of the init containers: [{_names(spec['initContainers'])}]"
        raise bad_request(message)
    for kind in ("containers", "initContainers", "ephemeralContainers"):
        for c in spec.get(kind) or []:
            if c.get("name") == name:
                return c
    raise bad_request(f"container {name} is not valid for pod {pod_name}")


def _names(containers: list[dict[str, Any]]) -> str:
    return " ".join(c.get("name", "") for c in containers)


def _instance(pod: dict[str, Any], name: str, previous: bool) -> tuple[str, dict[str, Any] | None]:
    """The instance whose log is read (the kubelet's validateContainerLogStatus): its start, and its end if over."""
    pod_name = pod["metadata"]["name"]
    status = next((s for s in (pod.get("status") or {}).get("containerStatuses") or [] if s.get("name") == name), {})
    state = status.get("state") or {}
    last = (status.get("lastState") or {}).get("terminated")
    if previous:
        if last is None:
            raise bad_request(f'previous terminated container "{name}" in pod "{pod_name}" not found')
        return last["startedAt"], last
    if "running" in state:
        return state["running"]["startedAt"], None
    if "terminated" in state:
        return state["terminated"]["startedAt"], state["terminated"]
    if last is not None:  # waiting to restart (CrashLoopBackOff): the run that just ended
        return last["startedAt"], last
    reason = (state.get("waiting") or {}).get("reason") or "ContainerCreating"  # no status yet: being created
    raise bad_request(f'container "{name}" in pod "{pod_name}" is waiting to start: {reason}')


def _run(
    pod: dict[str, Any],
    spec: dict[str, Any],
    started: str,
    ended: dict[str, Any] | None,
    output: ContainerOutput | None = None,
) -> list[Entry]:
    """What one instance wrote: a crash-looping image dies at start-up; anything else starts, listens, is ready,
    then writes what its stand-in program wrote, and, if it ended, says how."""
    name, image = spec.get("name", ""), str(spec.get("image", ""))
    crashes = image.endswith(CRASHLOOP_SUFFIX)
    texts = [f"Starting {name} with image {image}"]
    if not (crashes and (pod.get("spec") or {}).get("restartPolicy", "Always") == "Always"):
        texts += [
            f"Listening on port {p.get('containerPort')}" + (f" ({p['name']})" if p.get("name") else "")
            for p in spec.get("ports") or []
        ]
        texts.append("Ready")
    at = _nanos(started)
    entries = [(at + i * _LINE_NS, text) for i, text in enumerate(texts)]
    if output is not None:
        end = _nanos(ended["finishedAt"]) + 999_999_999 if ended and ended.get("finishedAt") else None
        written = output.between(pod["metadata"].get("uid", ""), name, entries[-1][0] + 1, end)
        entries += written
    if ended is not None:
        code = ended.get("exitCode", 0)
        end = max(_nanos(ended.get("finishedAt") or started), entries[-1][0] + _LINE_NS)
        if code == 0:
            entries.append((end, f"Completed: {name} exited with code 0"))
        else:
            entries.append((end, f"Error: {name} exited with code {code} ({image} is a {CRASHLOOP_SUFFIX} image)"))
    return [(_stamp(ns), text) for ns, text in entries]


def _following(
    pod: dict[str, Any],
    spec: dict[str, Any],
    started: str,
    first: list[Entry],
    events: Iterable[dict[str, Any] | None],
    output: ContainerOutput | None,
) -> Iterator[list[Entry]]:
    """New lines as they come: on a change of the pod, and on each quiet tick for what its program wrote."""
    yield first
    last = _nanos(first[-1][0]) if first else 0  # by time: a rotated buffer shifts what came before
    for event in events:
        if event is not None:
            if event.get("type") not in ("ADDED", "MODIFIED"):
                return  # the pod was deleted (or the watch failed): its containers are gone
            pod = event["object"]
        elif output is None:
            continue
        try:
            now_started, ended = _instance(pod, spec["name"], False)
        except ApiError:
            return
        if now_started != started:
            return  # another instance: the followed one is over
        entries = [(stamp, text) for stamp, text in _run(pod, spec, started, ended, output) if _nanos(stamp) > last]
        if entries:
            yield entries
            last = _nanos(entries[-1][0])
        if ended is not None:
            return


def _render(batches: Iterable[list[Entry]], options: LogOptions) -> Iterator[bytes]:
    """tailLines on what was there, then sinceSeconds/sinceTime, timestamps, and limitBytes over the whole stream."""
    left = options.limit_bytes
    for i, batch in enumerate(batches):
        if i == 0 and options.tail_lines is not None:
            batch = batch[len(batch) - options.tail_lines :] if options.tail_lines else []
        for stamp, text in batch:
            if options.since is not None and _nanos(stamp) < options.since * 1e9:
                continue
            chunk = (f"{stamp} {text}\n" if options.timestamps else f"{text}\n").encode()
            if left is not None:
                chunk, left = chunk[:left], left - len(chunk)
            if chunk:
                yield chunk
            if left is not None and left <= 0:
                return


def _nanos(stamp: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 timestamp, whole seconds (status) or not (log lines)."""
    whole, _, fraction = stamp.rstrip("Z").partition(".")
    seconds = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()
    return int(seconds) * 1_000_000_000 + int((fraction or "0").ljust(9, "0")[:9])


def _stamp(nanos: int) -> str:
    """Go's RFC3339Nano, as the kubelet prints ``--timestamps``: trailing zeros of the fraction dropped."""
    seconds, fraction = divmod(nanos, 1_000_000_000)
    digits = f"{fraction:09d}".rstrip("0")
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + (f".{digits}" if digits else "") + "Z"


def _integer(query: Mapping[str, str], key: str) -> int | None:
    raw = query.get(key)
    if raw is None:
        return None
    if not re.fullmatch(r"[+-]?[0-9]+", raw):
        raise bad_request(f'strconv.ParseInt: parsing "{raw}": invalid syntax')
    value = int(raw)
    if not -(2**63) <= value < 2**63:
        raise bad_request(f'strconv.ParseInt: parsing "{raw}": value out of range')
    return value


def _boolean(raw: str | None) -> bool:
    """kube-apiserver's query booleans: present and neither "0" nor "false" means true."""
    return raw is not None and raw != "0" and raw.lower() != "false"


def _since_time(raw: str) -> float:
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise bad_request(f'parsing time "{raw}" as "2006-01-02T15:04:05Z07:00": cannot parse') from None
