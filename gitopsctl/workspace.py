"""What every service of the engine needs, and nothing more: the configuration, the GitOps repository, its
renderer and writer, and one client per cluster.

Services (sync, release, rollout, drift) receive a Workspace rather than the
Engine, so none of them reaches back into the facade, and an app's desired
state (rendered, then prepared: namespaces, tracking, the boundary) is computed
in one place.
"""

from __future__ import annotations

import threading

from .cluster.client import Cluster
from .config import App, Config, Environment
from .errors import UsageError
from .identity import Actor
from .source.helm import Release
from .source.render import Rendered, Renderer
from .source.repo import GitRepository
from .source.writer import GitWriter
from .sync import prepare
from .sync.hooks import Hook, hooks_of


class Workspace:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.repo = GitRepository(config.git.url, config.git.branch, config.git.cache_dir)
        self.renderer = Renderer(self.repo, max_bytes=config.git.max_render_bytes)
        self.writer = GitWriter(
            config.git.url,
            config.git.branch,
            config.git.cache_dir,
            author_name=config.git.author_name,
            author_email=config.git.author_email,
        )
        self._clusters: dict[tuple[str, str], Cluster] = {}
        self._coordination: Cluster | None = None
        self._lock = threading.Lock()

    def resolve(self, app: str, env: str) -> tuple[App, Environment]:
        if app not in self.config.apps:
            raise UsageError(f'unknown app "{app}"; known apps: {", ".join(sorted(self.config.apps))}')
        self.environment(env)
        spec = self.config.apps[app]
        if env not in spec.environments:
            raise UsageError(f"{app} is not deployed to {env} (its environments: {', '.join(spec.environments)})")
        return spec, self.config.environments[env]

    def environment(self, env: str) -> Environment:
        if env not in self.config.environments:
            raise UsageError(f'unknown environment "{env}"; known environments: {", ".join(self.config.environments)}')
        return self.config.environments[env]

    def pairs(self, app: str | None = None, env: str | None = None) -> list[tuple[App, Environment]]:
        if app is not None and app not in self.config.apps:
            raise UsageError(f'unknown app "{app}"; known apps: {", ".join(sorted(self.config.apps))}')
        if env is not None:
            self.environment(env)
        return [
            (spec, self.config.environments[e])
            for spec in self.config.apps.values()
            if app is None or spec.name == app
            for e in self.config.promotion_chain
            if e in spec.environments and (env is None or e == env)
        ]

    def cluster(self, env: Environment) -> Cluster:
        key = (env.context, str(env.kubeconfig or ""))
        with self._lock:
            if key not in self._clusters:
                self._clusters[key] = Cluster(env.context, env.kubeconfig)
            return self._clusters[key]

    def render(self, app: App, env: Environment, sha: str, *, shared: bool = False) -> Rendered:
        """The app's manifests at ``sha`` in ``env``; a Helm chart renders as the app's release there.
        ``shared``: the render cache's own objects, never to be changed (see Renderer.render)."""
        return self.renderer.render(sha, app.path_for(env.name), self._release(app, env), shared=shared)

    def render_edited(self, app: App, env: Environment, sha: str, edits: dict[str, bytes]) -> tuple[dict, ...]:
        """A Helm app's chart at ``sha`` with files below its path replaced: what a deploy's edit would render."""
        return self.renderer.render_edited(sha, app.path_for(env.name), self._release(app, env), edits)

    @staticmethod
    def _release(app: App, env: Environment) -> Release:
        return Release(app.name, env.namespace, app.values_for(env.name))

    def desired(self, app: App, env: Environment, sha: str) -> tuple[Rendered, list[dict]]:
        """The app's objects at ``sha`` as they would be applied; refused here when they leave the boundary."""
        rendered = self.render(app, env, sha, shared=True)  # prepare copies each object before it changes it
        return rendered, prepare(rendered, app, env, self.cluster(env))

    def hooks(self, app: App, env: Environment, sha: str) -> list[Hook]:
        """The app's sync hooks at ``sha``, named for it; checked against the boundary as its objects are."""
        rendered = self.render(app, env, sha, shared=True)
        return hooks_of(prepare(rendered, app, env, self.cluster(env), hooks=True), sha)

    def coordination(self) -> tuple[Cluster, str]:
        """Where replicas of serve meet: the lease's cluster and namespace (leader election, replay claims)."""
        serve = self.config.serve
        if serve.lease_context is not None:
            with self._lock:
                if self._coordination is None:
                    self._coordination = Cluster(serve.lease_context, serve.lease_kubeconfig)
                return self._coordination, serve.lease_namespace
        return self.cluster(self.config.environments[self.config.promotion_chain[0]]), serve.lease_namespace

    def whoami(self, env: str) -> str:
        """Who this process acts as in ``env``: the user its cluster credentials belong to (``kubectl auth whoami``).

        Never a flag or a variable: approvals and history rely on it.
        """
        username, _groups = self.cluster(self.environment(env)).whoami()
        return str(Actor.kube(username))
