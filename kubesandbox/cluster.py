"""Start and stop a sandbox cluster: store, controllers, HTTP server, users and kubeconfigs.

The state directory holds every Secret, the tokens and the server key, so it is
0700 and its files 0600, also when an older sandbox left them wider.
"""

from __future__ import annotations

import base64
import os
import secrets
import stat
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType

import yaml

from .api import Api
from .audit import Audit
from .bootstrap import CLUSTER_ROLE_BINDINGS, CLUSTER_ROLES, MANAGER
from .controllers import Controllers, Timing
from .faults import Faults
from .registry import CRD_TYPE, Registry
from .server import ApiServer
from .store import Store
from .tls import ensure_certificates, server_context
from .users import Users, check_user

CONTEXT = "sandbox"
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class Sandbox:
    """A local Kubernetes API on 127.0.0.1, reached through ``kubeconfig`` like any cluster.

    ``with Sandbox.start(tmp_path) as sb:`` gives a running cluster whose objects
    persist in ``state_dir``; a sandbox started again on the same directory has
    what it had, its users and their tokens included.

    ``kubeconfig``'s current context (``sandbox``) is the admin; each user added
    with ``users=`` or :meth:`add_user` has a context ``NAME@sandbox`` there, and
    a kubeconfig of its own (:meth:`kubeconfig_for`) whose one context is named
    ``sandbox``, as a team member's own kubeconfig would be.
    """

    def __init__(
        self, state_dir: Path | str, *, port: int = 0, timing: Timing | None = None, audit_log: Path | None = None
    ) -> None:
        self.state_dir = Path(state_dir)
        _make_private(self.state_dir)
        self.store = Store(self.state_dir)
        self.registry = Registry()
        for key, obj in self.store.all_objects():
            if key == CRD_TYPE.storage_key:
                self.registry.register_crd(obj)
        self.api = Api(self.store, self.registry)
        self.controllers = Controllers(self.api, timing)
        self.token = self._token()
        self.users = Users(self.state_dir / "users.json", self.token)
        self.ca_path, cert_path, key_path = ensure_certificates(self.state_dir)
        self.faults = Faults()  # requests answered as a struggling API server would (see faults.py)
        self.audit = Audit(audit_log)  # every request, as the server saw it (see audit.py)
        self._server = ApiServer(
            port, self.api, self.users, server_context(cert_path, key_path), self.faults, self.audit
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="sandbox-api", daemon=True)
        self.kubeconfig = self.state_dir / "kubeconfig"
        self._stopped = False

    @classmethod
    def start(
        cls,
        state_dir: Path | str,
        *,
        port: int = 0,
        timing: Timing | None = None,
        users: Mapping[str, Iterable[str]] | None = None,
        audit_log: Path | None = None,
    ) -> Sandbox:
        """Start a sandbox; ``users`` maps user names to their groups (a user already there keeps its token);
        ``audit_log`` is a file to append the audit events to (they are kept in memory either way)."""
        wanted = [check_user(name, groups) for name, groups in (users or {}).items()]  # refused before anything runs
        sandbox = cls(state_dir, port=port, timing=timing, audit_log=audit_log)
        for name, groups in wanted:
            sandbox.users.add(name, groups)
        sandbox._ensure_defaults()
        sandbox._ensure_policy()
        sandbox.controllers.start()
        sandbox._thread.start()
        sandbox._write_kubeconfig()
        return sandbox

    def add_user(self, name: str, groups: Iterable[str] = ()) -> Path:
        """Add a user with its own token (or set an existing user's groups); returns its own kubeconfig."""
        self.users.add(name, groups)
        self._write_kubeconfig()
        return self.kubeconfig_for(name)

    def kubeconfig_for(self, name: str) -> Path:
        """A kubeconfig for user ``name`` alone, its context named as the main kubeconfig's (``sandbox``)."""
        token = self.users.token_of(name)
        path = self.state_dir / f"kubeconfig-{name}"
        self._write_config(path, [(CONTEXT, token)])
        return path

    @property
    def server(self) -> str:
        return self._server.url

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._server.stopping = True
        self._server.shutdown()
        self._server.server_close()
        self._server.close_connections()
        self.controllers.stop()
        self.store.close()
        self.audit.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -------------------------------------------------------------- internals

    def _token(self) -> str:
        path = self.state_dir / "token"
        if path.exists():
            return path.read_text(encoding="utf-8").strip()
        token = secrets.token_urlsafe(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(token)
        return token

    def _ensure_defaults(self) -> None:
        namespaces = self.registry.lookup("", "v1", "namespaces")
        for name in DEFAULT_NAMESPACES:
            if self.store.get(namespaces.storage_key, "", name) is None:
                self.api.create(namespaces, None, {"metadata": {"name": name}}, manager="kube-apiserver")
        services = self.registry.lookup("", "v1", "services")
        if self.store.get(services.storage_key, "default", "kubernetes") is None:
            self.api.create(
                services,
                "default",
                {
                    "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
                    "spec": {
                        "clusterIP": "10.96.0.1",
                        "ports": [{"name": "https", "port": 443, "targetPort": self.port}],
                    },
                },
                manager="kube-apiserver",
            )

    def _ensure_policy(self) -> None:
        """kube-apiserver's bootstrap RBAC objects, recreated when missing (see bootstrap.py)."""
        for kind, objects in (("clusterroles", CLUSTER_ROLES), ("clusterrolebindings", CLUSTER_ROLE_BINDINGS)):
            rt = self.registry.lookup("rbac.authorization.k8s.io", "v1", kind)
            for obj in objects:
                if self.store.get(rt.storage_key, "", obj["metadata"]["name"]) is None:
                    self.api.create(rt, None, obj, manager=MANAGER)

    def _write_kubeconfig(self) -> None:
        """The main kubeconfig (admin first and current) and each user's own, so a restart's new port reaches all."""
        names = self.users.names()
        entries = [(CONTEXT, self.token)]
        entries += [(f"{name}@{CONTEXT}", self.users.token_of(name)) for name in names]
        self._write_config(self.kubeconfig, entries)
        for name in names:
            self.kubeconfig_for(name)

    def _write_config(self, path: Path, entries: list[tuple[str, str]]) -> None:
        """Write a kubeconfig (0600) with one context and user per (context name, token); the first is current."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": CONTEXT,
                    "cluster": {
                        "server": self.server,
                        "certificate-authority-data": base64.b64encode(self.ca_path.read_bytes()).decode(),
                    },
                }
            ],
            "users": [{"name": context, "user": {"token": token}} for context, token in entries],
            "contexts": [
                {"name": context, "context": {"cluster": CONTEXT, "user": context, "namespace": "default"}}
                for context, _ in entries
            ],
            "current-context": entries[0][0],
            "preferences": {},
        }
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            yaml.safe_dump(config, out, sort_keys=False)
        os.replace(tmp, path)


def _make_private(state_dir: Path) -> None:
    """Create ``state_dir`` 0700 and narrow it and its files (0600) if an older sandbox left them wider."""
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(state_dir, 0o700)
    for entry in state_dir.iterdir():
        mode = entry.lstat().st_mode
        if stat.S_ISREG(mode) and stat.S_IMODE(mode) & 0o077:
            os.chmod(entry, 0o600)
