"""Start and stop a sandbox cluster: store, controllers, HTTP server and kubeconfig."""

from __future__ import annotations

import base64
import os
import secrets
import threading
from pathlib import Path
from types import TracebackType

import yaml

from .api import Api
from .controllers import Controllers, Timing
from .registry import CRD_TYPE, Registry
from .server import ApiServer
from .store import Store
from .tls import ensure_certificates, server_context

CONTEXT = "sandbox"
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class Sandbox:
    """A local Kubernetes API on 127.0.0.1, reached through ``kubeconfig`` like any cluster.

    ``with Sandbox.start(tmp_path) as sb:`` gives a running cluster whose objects
    persist in ``state_dir``; a sandbox started again on the same directory has
    what it had.
    """

    def __init__(self, state_dir: Path | str, *, port: int = 0, timing: Timing | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(self.state_dir)
        self.registry = Registry()
        for key, obj in self.store.all_objects():
            if key == CRD_TYPE.storage_key:
                self.registry.register_crd(obj)
        self.api = Api(self.store, self.registry)
        self.controllers = Controllers(self.api, timing)
        self.token = self._token()
        self.ca_path, cert_path, key_path = ensure_certificates(self.state_dir)
        self._server = ApiServer(port, self.api, self.token, server_context(cert_path, key_path))
        self._thread = threading.Thread(target=self._server.serve_forever, name="sandbox-api", daemon=True)
        self.kubeconfig = self.state_dir / "kubeconfig"
        self._stopped = False

    @classmethod
    def start(cls, state_dir: Path | str, *, port: int = 0, timing: Timing | None = None) -> Sandbox:
        sandbox = cls(state_dir, port=port, timing=timing)
        sandbox._ensure_defaults()
        sandbox.controllers.start()
        sandbox._thread.start()
        sandbox._write_kubeconfig()
        return sandbox

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
        self.controllers.stop()
        self.store.close()

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

    def _write_kubeconfig(self) -> None:
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
            "users": [{"name": CONTEXT, "user": {"token": self.token}}],
            "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": "default"}}],
            "current-context": CONTEXT,
            "preferences": {},
        }
        tmp = self.kubeconfig.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            yaml.safe_dump(config, out, sort_keys=False)
        os.replace(tmp, self.kubeconfig)
