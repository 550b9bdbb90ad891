"""HTTP front of the sandbox: kube-apiserver's URL layout, auth, discovery and watch streams.

Served over HTTPS on 127.0.0.1. A request's bearer token is checked before
its body is read: an unknown token gets 401 and its body is never read.
Requests are decoded into calls on :class:`~kubesandbox.api.Api`; every
failure comes back as a ``Status`` object with the right code and reason.
"""

from __future__ import annotations

import contextlib
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

from . import openapi
from .api import Api, now_rfc3339
from .errors import ApiError, bad_request, method_not_allowed, unauthorized
from .faults import Faults
from .registry import SELF_SUBJECT_REVIEW, ResourceType
from .tables import to_table
from .users import MASTERS, UserInfo, Users

log = logging.getLogger(__name__)

FAULTS_PATH = "/sandbox/faults"  # the admin's fault injection (see faults.py); not a Kubernetes path
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


class ApiServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, port: int, api: Api, users: Users, tls: ssl.SSLContext, faults: Faults | None = None) -> None:
        self.api = api
        self.users = users
        self.faults = faults or Faults()
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
    except ValueError:
        return None
    name = body.get("metadata", {}).get("name") if isinstance(body, dict) else None
    return name if isinstance(name, str) else None


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("true", "1")


def _user_agent_manager(user_agent: str) -> str:
    """kube-apiserver's default field manager: the user agent up to its first '/'."""
    return (user_agent or "unknown").split("/", 1)[0][:128] or "unknown"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out in separate writes; with Nagle on, each response
    # would wait ~40 ms for the client's delayed ACK
    disable_nagle_algorithm = True
    server: ApiServer

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

    def _content_length(self) -> int:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            raise bad_request("the Content-Length header of the request is not a whole number")
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
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError as e:
            raise bad_request(f"the body of the request could not be decoded as JSON: {e}") from e

    def _send(self, code: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _user(self) -> UserInfo | None:
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        return self.server.users.authenticate(token.strip()) if scheme.lower() == "bearer" else None

    def _dispatch(self, method: str) -> None:
        try:
            url = urlsplit(self.path)
            path = url.path.rstrip("/") or "/"
            query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            if path in PUBLIC_PATHS:
                user, raw = None, b""
                if self._content_length():  # a body nobody needs is never read: hang up after answering
                    self.close_connection = True
            else:
                user = self._user()
                if user is None:
                    self.close_connection = True  # its body stays unread, so the connection cannot be reused
                    raise unauthorized()
                raw = self._body()
            if path == FAULTS_PATH or path.startswith(FAULTS_PATH + "/"):
                return self._faults(method, path, raw, user)
            self._route(method, path, query, raw, user)
        except ApiError as e:
            self._send(e.code, e.status(), e.headers)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):  # the client hung up (or gave up waiting)
            self.close_connection = True
        except Exception as e:  # one broken request must not take the server down
            log.exception("sandbox: %s %s failed", method, self.path)
            self._send(500, ApiError(500, "InternalError", f"Internal error occurred: {e}").status())

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
        if rt is SELF_SUBJECT_REVIEW:
            return self._self_subject_review(method, rest, raw, user)
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else ""
        if len(rest) > 3 or (sub and sub not in ("status", "scale", "finalize")):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if (sub == "status" and not rt.status) or (sub == "scale" and not rt.scale):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if self._inject(method, rt, namespace, name or _created_name(method, raw), sub, watch, user):
            return
        self._verb(method, rt, namespace, name, sub, query, raw, watch)

    def _self_subject_review(self, method: str, rest: list[str], raw: bytes, user: UserInfo | None) -> None:
        """Who the caller is, as kube-apiserver answers ``kubectl auth whoami``; nothing is stored."""
        if user is None:
            raise unauthorized()
        if len(rest) > 1:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if method != "POST":
            raise method_not_allowed()
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip()
        # client-go's typed client sends protobuf; a review has no spec, so its body is only checked for shape
        if content_type == "application/vnd.kubernetes.protobuf":
            if raw and not raw.startswith(b"k8s\x00"):
                raise bad_request("the body of the request is not a Kubernetes protobuf message")
        else:
            body = self._json_body(raw)
            if body is not None and not isinstance(body, dict):
                raise bad_request("the body of the request must be a JSON object")
            self.server.api.check_type(SELF_SUBJECT_REVIEW, body or {})
        self._send(
            201,
            {
                "kind": SELF_SUBJECT_REVIEW.kind,
                "apiVersion": SELF_SUBJECT_REVIEW.api_version,
                "metadata": {"creationTimestamp": now_rfc3339()},
                "status": {"userInfo": {"username": user.username, "groups": list(user.groups)}},
            },
        )

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

    def _faults(self, method: str, path: str, raw: bytes, user) -> None:
        """The admin's fault rules (see faults.py): GET lists, POST adds, DELETE removes all or one."""
        if user is None or MASTERS not in user.groups:
            raise ApiError(403, "Forbidden", "only the sandbox's admin may inject faults")
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
        if name is None:
            if method == "GET" and watch:
                return self._watch(rt, namespace, query)
            if method == "GET":
                listed = api.list(rt, namespace, query.get("labelSelector"), query.get("fieldSelector"))
                if self._wants_table():
                    return self._send(200, to_table(rt, listed["items"], listed["metadata"]["resourceVersion"]))
                return self._send(200, listed)
            if method == "POST":
                created = api.create(rt, namespace, self._json_body(raw), manager=manager, dry_run=dry_run)
                return self._send(201, created)
            if method == "DELETE":
                options = self._json_body(raw) or {}
                return self._send(
                    200,
                    api.delete_collection(
                        rt,
                        namespace,
                        query.get("labelSelector"),
                        query.get("fieldSelector"),
                        self._delete_options(options, query),
                        dry_run=dry_run,
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
                body = {"spec": {"replicas": ((body or {}).get("spec") or {}).get("replicas")}}
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
            return self._send(
                200, api.update(rt, namespace, name, body, manager=manager, dry_run=dry_run, subresource=sub)
            )
        if method == "PATCH":
            content_type = self.headers.get("Content-Type", "")
            if sub == "scale":
                from .structure import merge_patch

                current = _scale_of(rt, api.get(rt, namespace, name))
                patched = merge_patch(current, self._json_body(raw))
                obj = api.update(
                    rt,
                    namespace,
                    name,
                    {**api.get(rt, namespace, name), "spec": {"replicas": patched["spec"]["replicas"]}},
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
            )
            return self._send(201 if created else 200, result)
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
        first = next(events, None)  # raises bad selectors as a plain error response
        as_table = self._wants_table()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()

        def emit(event: dict[str, Any]) -> None:
            if as_table and event["type"] != "ERROR":
                obj = event["object"]
                event = {"type": event["type"], "object": to_table(rt, [obj], obj["metadata"]["resourceVersion"])}
            line = json.dumps(event, separators=(",", ":")).encode() + b"\n"
            self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
            self.wfile.flush()

        try:
            if first is not None:
                emit(first)
            for event in events:
                if event is not None:
                    emit(event)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True


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
