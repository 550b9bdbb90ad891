"""HTTP front of the sandbox: kube-apiserver's URL layout, auth, discovery and watch streams.

Served over HTTPS on 127.0.0.1. A request's bearer token is checked before
its body is read: an unknown token gets 401 and its body is never read.
Requests are decoded into calls on :class:`~kubesandbox.api.Api`; every
failure comes back as a ``Status`` object with the right code and reason.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import logs, openapi, rbac
from .access import Access
from .api import Api
from .audit import Audit
from .errors import ApiError, bad_request, method_not_allowed, unauthorized, unsupported_media_type
from .faults import FAULTS_PATH, Faults
from .registry import REVIEWS, SUBRESOURCES, ResourceType
from .structure import PatchError, json_patch, merge_patch
from .tables import to_table
from .users import MASTERS, UserInfo, Users

log = logging.getLogger(__name__)

SANDBOX_PATH = "/sandbox"  # the admin's own endpoints; not Kubernetes paths, outside RBAC
AUDIT_PATH = "/sandbox/audit"  # the audit events the server kept (see audit.py)
PUBLIC_PATHS = frozenset({"/version", "/healthz", "/livez", "/readyz"})
VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-gitopsctl-sandbox",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.23.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}
DEFAULT_WATCH_SECONDS = 1800
MAX_BODY = 3 * 1024 * 1024  # kube-apiserver's MaxRequestBodyBytes
HANDSHAKE_SECONDS = 32  # secure_serving's header timeout
IDLE_SECONDS = 90  # and its idle timeout: a connection that says nothing is closed


class ApiServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(
        self,
        port: int,
        api: Api,
        users: Users,
        tls: ssl.SSLContext,
        faults: Faults | None = None,
        audit: Audit | None = None,
    ) -> None:
        self.api = api
        self.users = users
        self.access = Access(api, users)
        self.faults = faults or Faults()
        self.audit = audit or Audit()
        self.stopping = False
        self._tls = tls
        self._open: set = set()
        self._open_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)

    def get_request(self):  # noqa: ANN201 - socketserver's signature
        sock, address = super().get_request()
        return self._tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def finish_request(self, request, client_address) -> None:  # noqa: ANN001
        try:
            request.settimeout(HANDSHAKE_SECONDS)
            request.do_handshake()
        except (ssl.SSLError, OSError):
            return  # a client that gave up or does not speak TLS
        with self._open_lock:
            self._open.add(request)
        try:
            super().finish_request(request, client_address)
        finally:
            with self._open_lock:
                self._open.discard(request)

    def handle_error(self, request, client_address) -> None:  # noqa: ANN001
        """A client that hung up mid-answer (a timeout, a dropped connection) is no error of the server's."""
        if isinstance(sys.exc_info()[1], OSError):  # ssl.SSLError and broken pipes included
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """Hang up on every client still connected (kept-alive connections, watches), as a stopped
        kube-apiserver does: a stopped sandbox must not go on answering on old connections."""
        with self._open_lock:
            open_now = list(self._open)
        for sock in open_now:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"https://{host}:{port}"


def _created_name(method: str, raw: bytes) -> str | None:
    """The name in a create's body (a POST names its object there, not in the path), for fault rules."""
    if method != "POST" or not raw:
        return None
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    meta = body.get("metadata") if isinstance(body, dict) else None
    name = meta.get("name") if isinstance(meta, dict) else None
    return name if isinstance(name, str) else None


def _truthy(value: str | None) -> bool:
    """A boolean query parameter as Go parses it: absent is false, an unparsable value a 400."""
    if value is None:
        return False
    parsed = rbac.parse_bool(value)
    if parsed is None:
        raise bad_request(f'strconv.ParseBool: parsing "{value}": invalid syntax')
    return parsed


def _user_agent_manager(user_agent: str) -> str:
    """kube-apiserver's default field manager: the user agent up to its first '/'."""
    return (user_agent or "unknown").split("/", 1)[0][:128] or "unknown"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out in separate writes; with Nagle on, each response
    # would wait ~40 ms for the client's delayed ACK
    disable_nagle_algorithm = True
    server: ApiServer
    _code, _audited = 0, True  # set per request by _dispatch; nothing is audited outside one
    timeout = IDLE_SECONDS  # a kept-alive connection that sends nothing more is closed, not held forever

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - BaseHTTPRequestHandler's name
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # ----------------------------------------------------------------- plumbing

    def _content_length(self, capped: bool = True) -> int:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            raise bad_request("the Content-Length header of the request is not a whole number")
        if capped and length > MAX_BODY:
            self.close_connection = True  # never read
            raise ApiError(413, "RequestEntityTooLarge", f"Request entity too large: limit is {MAX_BODY}")
        return length

    def handle_expect_100(self) -> bool:
        """Hold "100 Continue" until the caller is known (see ``_body``), as Go's server does."""
        return True

    def _body(self) -> bytes:
        length = self._content_length()
        if length and self.headers.get("Expect", "").lower() == "100-continue":
            self.send_response_only(100)
            self.end_headers()
        return self.rfile.read(length) if length else b""

    def _json_body(self, raw: bytes) -> Any:
        """The body as its JSON would decode: kubectl sends built-in kinds as protobuf and never retries as JSON."""
        if not raw:
            return None
        from .protobuf import CONTENT_TYPE, decode_protobuf

        if self.headers.get("Content-Type", "").split(";")[0].strip() == CONTENT_TYPE:
            return decode_protobuf(raw)
        try:
            return json.loads(raw)
        except (ValueError, RecursionError) as e:
            raise bad_request(f"the body of the request could not be decoded as JSON: {e}") from e

    def _send(self, code: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body, separators=(",", ":")).encode() + b"\n"  # Go's json.Encoder ends with one
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def send_response(self, code: int, message: str | None = None) -> None:
        self._code = code  # for the audit event
        super().send_response(code, message)

    def end_headers(self) -> None:
        """The audit event is written as the answer's headers go out: before the client can read the
        answer, so a reader of the audit log who got an answer finds its event (streams included)."""
        super().end_headers()
        if self._code >= 200 and not self._audited:
            self._audit()

    def _dispatch(self, method: str) -> None:
        self._method, self._received, self._code, self._audited = method, time.time(), 0, False
        self._caller = self._impersonated = self._attrs = None
        try:
            url = urlsplit(self.path)
            path = url.path.rstrip("/") or "/"
            query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            if path in PUBLIC_PATHS:
                user, raw = None, b""
                if self._content_length(capped=False):  # a body nobody needs is never read: hang up after answering
                    self.close_connection = True
            else:
                self._caller = caller = self.server.access.authenticate(self.headers.get("Authorization", ""))
                if caller is None:
                    self.close_connection = True  # its body stays unread, so the connection cannot be reused
                    raise unauthorized()
                if path == SANDBOX_PATH or path.startswith(SANDBOX_PATH + "/"):
                    if MASTERS not in caller.groups:  # refused before its body is read
                        self.close_connection = True
                        raise ApiError(403, "Forbidden", "only the sandbox's admin may use its /sandbox endpoints")
                    return self._sandbox(method, path, query, self._body(), caller)
                self.close_connection = True  # until authorized: a refused request's body is never read
                user, self._impersonated = self.server.access.impersonate(caller, self.headers)
                self._attrs = rbac.request_attributes(method, path, query, user)
                self.server.access.authorize(self._attrs)
                self.close_connection = False
                raw = self._body()
            self._route(method, path, query, raw, user)
        except ApiError as e:
            self._send(e.code, e.status(), e.headers)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):  # the client hung up (or gave up waiting)
            self.close_connection = True
        except Exception as e:  # one broken request must not take the server down
            log.exception("sandbox: %s %s failed", method, self.path)
            self._send(500, ApiError(500, "InternalError", f"Internal error occurred: {e}").status())
        finally:
            if not self._audited:  # a connection dropped without an answer (a fault rule) is recorded too
                self._audit()

    def _audit(self) -> None:
        """One audit event per request, naming the authenticated caller and whom it impersonated."""
        self._audited = True
        caller, impersonated, attrs = self._caller, self._impersonated, self._attrs
        object_ref = None
        if attrs is not None and attrs.resource_request:
            parts = urlsplit(self.path).path.strip("/").split("/")
            version = parts[1] if parts[0] == "api" else parts[2] if len(parts) > 2 else ""
            object_ref = {
                key: value
                for key, value in (
                    ("resource", attrs.resource),
                    ("namespace", attrs.namespace),
                    ("name", attrs.name),
                    ("apiGroup", attrs.api_group),
                    ("apiVersion", version),
                    ("subresource", attrs.subresource),
                )
                if value
            }
        self.server.audit.record(
            uri=self.path,
            verb=attrs.verb if attrs is not None else self._method.lower(),
            user=(caller.username, caller.groups) if caller else None,
            impersonated=(impersonated.username, impersonated.groups) if impersonated else None,
            object_ref=object_ref,
            code=self._code,
            received=self._received,
            answered=time.time(),
            source_ip=self.client_address[0],
            user_agent=self.headers.get("User-Agent", "") if self.headers else "",
        )

    # ------------------------------------------------------------------ routing

    def _route(self, method: str, path: str, query: dict[str, str], raw: bytes, user: UserInfo | None) -> None:
        api = self.server.api
        if path in ("/healthz", "/livez", "/readyz"):
            data = b"ok"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if path == "/version":
            return self._send(200, VERSION)
        if path == "/api":
            host, port = self.server.server_address[:2]
            return self._send(
                200,
                {
                    "kind": "APIVersions",
                    "versions": ["v1"],
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": f"{host}:{port}"}],
                },
            )
        if path == "/apis":
            return self._send(
                200,
                {
                    "kind": "APIGroupList",
                    "apiVersion": "v1",
                    "groups": [self._group(name, versions) for name, versions in api.registry.groups().items() if name],
                },
            )
        if path == "/openapi/v3":
            return self._send(200, openapi.index(api.registry))
        if path.startswith("/openapi/v3/"):
            doc = openapi.for_group_version(api.registry, path[len("/openapi/v3/") :])
            if doc is None:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return self._send(200, doc)
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) >= 2:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[0] == "apis" and len(parts) >= 2:
            if len(parts) == 2:
                versions = api.registry.groups().get(parts[1])
                if not versions:
                    raise ApiError(404, "NotFound", "the server could not find the requested resource")
                return self._send(200, {"kind": "APIGroup", "apiVersion": "v1", **self._group(parts[1], versions)})
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if not rest:
            return self._send(200, self._resource_list(group, version))
        watch = _truthy(query.get("watch"))
        if rest[0] == "watch":
            watch, rest = True, rest[1:]
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces" and api.registry.lookup(group, version, rest[2]):
            namespace, rest = rest[1], rest[2:]
        rt = api.resolve(group, version, rest[0])
        if namespace is not None and not rt.namespaced:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if rt in REVIEWS:
            return self._review(rt, method, rest, raw, user)
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else ""
        others = SUBRESOURCES.get((rt.group, rt.plural), {})
        if len(rest) > 3 or (sub and sub not in ("status", "scale", "finalize", *others)):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        finalizable = (rt.group, rt.plural) == ("", "namespaces")
        if (
            (sub == "status" and not rt.status)
            or (sub == "scale" and not rt.scale)
            or (sub == "finalize" and not finalizable)
        ):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if sub in ("status", "scale") and method not in ("GET", "PUT", "PATCH"):
            raise method_not_allowed()
        if sub == "finalize" and method != "PUT":
            raise method_not_allowed()
        if name is None and namespace is None and rt.namespaced and method in ("POST", "DELETE"):
            raise method_not_allowed()  # creating or deleting across all namespaces has no endpoint
        if watch and name and method == "GET" and not sub:  # /watch/.../NAME: a watch of that one object
            pinned = f"metadata.name={name}"
            query = {
                **query,
                "fieldSelector": f"{query['fieldSelector']},{pinned}" if query.get("fieldSelector") else pinned,
            }
            name = None
        if self._inject(method, rt, namespace, name or _created_name(method, raw), sub, watch, user):
            return
        if sub in others:
            return self._subresource(method, rt, namespace, name, sub, query, raw)
        self._verb(method, rt, namespace, name, sub, query, raw, watch)

    def _review(self, rt: ResourceType, method: str, rest: list[str], raw: bytes, user: UserInfo) -> None:
        """Who the caller is and what it may do (``kubectl auth whoami``, ``auth can-i``); nothing is stored."""
        if len(rest) > 1:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if method != "POST":
            raise method_not_allowed()
        body = self._json_body(raw) or {}
        if not isinstance(body, dict):
            raise bad_request("the body of the request must be an object")
        self.server.api.check_type(rt, body)
        self._send(201, self.server.access.review(rt, user, body))

    def _subresource(self, method: str, rt: ResourceType, namespace, name, sub: str, query, raw: bytes) -> None:
        """A pod's log, exec, attach and port-forward, and a ServiceAccount's tokens."""
        api = self.server.api
        verbs = {"GET": "get", "POST": "create"}
        if verbs.get(method) not in SUBRESOURCES[(rt.group, rt.plural)][sub][3]:
            raise method_not_allowed()
        obj = api.get(rt, namespace, name)  # a missing object is its own 404, as upstream
        if sub == "token":
            body = self._json_body(raw) or {}
            if not isinstance(body, dict):
                raise bad_request("the body of the request must be an object")
            return self._send(201, self.server.access.token_request(namespace, name, body))
        if sub == "log":
            return self._log(rt, obj, query)
        # exec, attach, portforward: an upgrade to a stream no container is there to serve
        raise ApiError(
            400,
            "BadRequest",
            f'the sandbox runs no containers, so pods/{sub} is not emulated (pod "{name}" in namespace '
            f'"{namespace}" exists; use kubectl logs, describe and get to look inside it)',
        )

    def _log(self, rt: ResourceType, pod: dict[str, Any], query: dict[str, str]) -> None:
        """``kubectl logs`` (the lines are logs.py's); ``follow`` streams until the container's run ends."""
        meta = pod["metadata"]
        options = logs.LogOptions.from_query(query, meta["name"])
        events: Any = ()
        if options.follow:
            events = self.server.api.watch(
                rt,
                meta["namespace"],
                meta["resourceVersion"],
                None,
                f"metadata.name={meta['name']}",
                time.monotonic() + DEFAULT_WATCH_SECONDS,
                lambda: self.server.stopping,
            )
        body = logs.stream(pod, options, events, self.server.api.store.output)
        first = next(body, b"")  # refusals are raised by now, while an error can still be answered
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        if not options.follow:
            data = first + b"".join(body)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.close_connection = True
        try:
            for chunk in itertools.chain([first] if first else [], body):  # an empty chunk would end it
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:  # the client stopped following
            pass

    def _group(self, name: str, versions: list[str]) -> dict[str, Any]:
        entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
        return {"name": name, "versions": entries, "preferredVersion": entries[0]}

    def _resource_list(self, group: str, version: str) -> dict[str, Any]:
        types = [rt for rt in self.server.api.registry.all() if rt.group == group and rt.version == version]
        if not types:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version,
            "resources": [entry for rt in sorted(types, key=lambda t: t.plural) for entry in rt.discovery()],
        }

    def _wants_table(self) -> bool:
        return "as=Table" in (self.headers.get("Accept") or "")

    def _inject(self, method: str, rt: ResourceType, namespace, name, sub: str, watch: bool, user) -> bool:
        """A fault rule meeting this request: delay it, answer its status, or drop the connection (True)."""
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method) or (
            ("get" if name else "watch" if watch else "list")
            if method == "GET"
            else ("delete" if name else "deletecollection")
        )
        resource = f"{rt.plural}/{sub}" if sub else rt.plural
        who = user.username if user else ""
        fault = self.server.faults.fire(verb, resource, namespace or "", name or "", who)
        if fault is None:
            return False
        if fault.latency:
            time.sleep(fault.latency)
        if fault.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return True
        error = fault.error()
        if error is not None:
            raise error
        return False

    def _sandbox(self, method: str, path: str, query: dict[str, str], raw: bytes, user: UserInfo) -> None:
        """The admin's endpoints: fault rules and the audit events kept."""
        if MASTERS not in user.groups:
            raise ApiError(403, "Forbidden", "only the sandbox's admin may use its /sandbox endpoints")
        if path == AUDIT_PATH and method == "GET":
            try:
                after = int(query.get("after") or 0)
            except ValueError as e:
                raise bad_request("after must be a whole number (the last event number you read)") from e
            newest, events = self.server.audit.after(after)
            return self._send(
                200,
                {
                    "kind": "EventList",
                    "apiVersion": "audit.k8s.io/v1",
                    "metadata": {"resourceVersion": str(newest)},
                    "items": events,
                },
            )
        if path == FAULTS_PATH or path.startswith(FAULTS_PATH + "/"):
            return self._faults(method, path, raw)
        raise ApiError(404, "NotFound", "the server could not find the requested resource")

    def _faults(self, method: str, path: str, raw: bytes) -> None:
        """The fault rules (see faults.py): GET lists, POST adds, DELETE removes all or one."""
        faults = self.server.faults
        if method == "GET" and path == FAULTS_PATH:
            return self._send(200, {"kind": "FaultList", "items": [f.as_dict() for f in faults.rules()]})
        if method == "POST" and path == FAULTS_PATH:
            return self._send(201, faults.add_json(self._json_body(raw)).as_dict())
        if method == "DELETE":
            fault_id = path[len(FAULTS_PATH) + 1 :] or None
            removed = faults.remove(fault_id)
            if fault_id and not removed:
                raise ApiError(404, "NotFound", f"no fault {fault_id}")
            return self._send(200, {"kind": "Status", "status": "Success", "details": {"removed": removed}})
        raise method_not_allowed()

    def _verb(self, method, rt: ResourceType, namespace, name, sub, query, raw, watch) -> None:
        api = self.server.api
        dry_run = query.get("dryRun") == "All"
        manager = query.get("fieldManager") or _user_agent_manager(self.headers.get("User-Agent", ""))
        validation = query.get("fieldValidation")
        warnings: list[str] = []  # a custom resource's unknown fields, under fieldValidation=Warn

        def written(code: int, body: Any) -> None:
            """A write's answer with its warnings as ``299 - "text"`` values of one Warning header (a list header)."""
            quoted = ['299 - "' + w.replace("\\", "\\\\").replace('"', '\\"') + '"' for w in dict.fromkeys(warnings)]
            self._send(code, body, {"Warning": ", ".join(quoted)} if quoted else None)

        if name is None:
            if method == "GET" and watch:
                return self._watch(rt, namespace, query)
            if method == "GET":
                listed = api.list(rt, namespace, query.get("labelSelector"), query.get("fieldSelector"))
                if self._wants_table():
                    return self._send(200, to_table(rt, listed["items"], listed["metadata"]["resourceVersion"]))
                return self._send(200, listed)
            if method == "POST":
                created = api.create(
                    rt,
                    namespace,
                    self._json_body(raw),
                    manager=manager,
                    dry_run=dry_run,
                    field_validation=validation,
                    warnings=warnings,
                )
                return written(201, created)
            if method == "DELETE":
                options = self._delete_options(self._json_body(raw) or {}, query)
                return self._send(
                    200,
                    api.delete_collection(
                        rt,
                        namespace,
                        query.get("labelSelector"),
                        query.get("fieldSelector"),
                        options,
                        dry_run=dry_run or options.get("dryRun") == ["All"],
                    ),
                )
            raise method_not_allowed()
        if method == "GET":
            obj = api.get(rt, namespace, name)
            if sub == "scale":
                return self._send(200, _scale_of(rt, obj))
            if self._wants_table():
                return self._send(200, to_table(rt, [obj], obj["metadata"]["resourceVersion"]))
            return self._send(200, obj)
        if method == "PUT":
            body = self._json_body(raw)
            if sub == "scale":
                body = {"spec": {"replicas": _replicas_of(body, name)}}
                return self._send(
                    200,
                    _scale_of(
                        rt,
                        api.update(
                            rt,
                            namespace,
                            name,
                            {**api.get(rt, namespace, name), **body},
                            manager=manager,
                            dry_run=dry_run,
                            subresource="scale",
                        ),
                    ),
                )
            if sub == "finalize":
                sub = ""
            updated = api.update(
                rt,
                namespace,
                name,
                body,
                manager=manager,
                dry_run=dry_run,
                subresource=sub,
                field_validation=validation,
                warnings=warnings,
            )
            return written(200, updated)
        if method == "PATCH":
            content_type = self.headers.get("Content-Type", "")
            if sub == "scale":
                current = _scale_of(rt, api.get(rt, namespace, name))
                kind = content_type.split(";")[0].strip()
                try:
                    if kind in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
                        patched = merge_patch(current, self._json_body(raw))
                    elif kind == "application/json-patch+json":
                        patched = json_patch(current, self._json_body(raw))
                    else:
                        raise unsupported_media_type(kind)
                except PatchError as e:
                    raise ApiError(422, "Invalid", str(e)) from e
                obj = api.update(
                    rt,
                    namespace,
                    name,
                    {**api.get(rt, namespace, name), "spec": {"replicas": _replicas_of(patched, name)}},
                    manager=manager,
                    dry_run=dry_run,
                    subresource="scale",
                )
                return self._send(200, _scale_of(rt, obj))
            if content_type.startswith("application/apply-patch") and not query.get("fieldManager"):
                raise bad_request("PATCH /apply requests require a fieldManager query parameter")
            result, created = api.patch(
                rt,
                namespace,
                name,
                raw,
                content_type,
                manager=manager,
                force=_truthy(query.get("force")),
                dry_run=dry_run,
                subresource=sub,
                field_validation=validation,
                warnings=warnings,
            )
            return written(201 if created else 200, result)
        if method == "DELETE":
            options = self._delete_options(self._json_body(raw) or {}, query)
            return self._send(
                200, api.delete(rt, namespace, name, options, dry_run=dry_run or options.get("dryRun") == ["All"])
            )
        raise method_not_allowed()

    def _delete_options(self, options: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        if "propagationPolicy" in query:
            options = {**options, "propagationPolicy": query["propagationPolicy"]}
        return options

    def _watch(self, rt: ResourceType, namespace: str | None, query: dict[str, str]) -> None:
        api = self.server.api
        try:
            timeout = int(query.get("timeoutSeconds") or DEFAULT_WATCH_SECONDS)
        except ValueError as e:
            raise bad_request("timeoutSeconds must be a whole number") from e
        deadline = time.monotonic() + timeout
        events = api.watch(
            rt,
            namespace,
            query.get("resourceVersion"),
            query.get("labelSelector"),
            query.get("fieldSelector"),
            deadline,
            lambda: self.server.stopping,
        )
        as_table = self._wants_table()
        # headers go out at once, as kube-apiserver's do: a client's Watch.stop() and an informer's
        # shutdown must not wait for the first event
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.close_connection = True

        def emit(event: dict[str, Any]) -> None:
            if as_table and event["type"] != "ERROR":
                obj = event["object"]
                event = {"type": event["type"], "object": to_table(rt, [obj], obj["metadata"]["resourceVersion"])}
            line = json.dumps(event, separators=(",", ":")).encode() + b"\n"
            self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
            self.wfile.flush()

        try:
            for event in events:
                if event is not None:
                    emit(event)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:  # the client closed its watch (ssl errors included): a normal end, not a failure
            pass
        except Exception:  # the stream has started: the status line is gone, so end it without a second answer
            log.exception("sandbox: watch of %s ended by an error", rt.plural)


def _replicas_of(scale: Any, name: str) -> int:
    """A Scale's spec.replicas, checked: anything but a whole number from 0 is refused as upstream refuses it."""
    spec = scale.get("spec") if isinstance(scale, dict) else None
    replicas = spec.get("replicas") if isinstance(spec, dict) else None
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
        raise ApiError(
            422,
            "Invalid",
            f'Scale.autoscaling "{name}" is invalid: spec.replicas: Invalid value: {json.dumps(replicas)}: '
            "must be greater than or equal to 0",
        )
    return replicas


def _scale_of(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    selector = (obj.get("spec") or {}).get("selector") or {}
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in meta
        },
        "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
        "status": {
            "replicas": (obj.get("status") or {}).get("replicas", 0),
            "selector": ",".join(f"{k}={v}" for k, v in (selector.get("matchLabels") or {}).items()),
        },
    }
