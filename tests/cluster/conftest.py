"""The real-cluster suite: engine scenarios against whatever cluster ``GITOPSCTL_TEST_KUBECONFIG`` points at.

Opt-in. Without the variable every test here skips with one line saying how to run
it; with it, each test gets a namespace of its own (``gitopsctl-test-<random>``,
labelled ``gitopsctl-test=true``), a GitOps repository of real Git in a temp dir,
and an Engine whose every namespace setting (the environment's namespace, where
records, locks and quarantine live, and serve's lease namespace) is that
namespace, so nothing outside it is written. The namespace is deleted when the
test ends, passed or failed. A context or cluster whose name contains ``prod`` is
refused unless ``GITOPSCTL_TEST_CLUSTER_I_MEAN_IT=1``.

The tests poll on state (``wait_for``) with timeouts long enough for a real
cluster to pull an image and start pods; nothing here knows which cluster it is
talking to. See docs/real-clusters.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import textwrap
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import git
import pytest
from kubernetes import client as k8s
from kubernetes import config as kube_config
from kubernetes.client.rest import ApiException

from demo.seed import GitOpsRepo, deployment_yaml, service_yaml
from gitopsctl import config as config_module
from gitopsctl.config import Config
from gitopsctl.engine import Engine

KUBECONFIG_VAR = "GITOPSCTL_TEST_KUBECONFIG"
CONTEXT_VAR = "GITOPSCTL_TEST_CONTEXT"  # optional: a context other than the kubeconfig's current one
I_MEAN_IT_VAR = "GITOPSCTL_TEST_CLUSTER_I_MEAN_IT"
TEST_LABEL = "gitopsctl-test"
HOW_TO_RUN = (
    f"real-cluster suite: set {KUBECONFIG_VAR}=/path/to/kubeconfig of a throwaway cluster to run it "
    "(make test-cluster; see docs/real-clusters.md)"
)

ENV = "test"  # the one environment of every scenario
APP = "web"  # the one app
IMAGE = "registry.k8s.io/pause"  # runs on any real cluster, any architecture; the sandbox simulates it
STABLE = "3.10"
REPLICAS = 2
# A real cluster pulls images and starts pods: generous, and only ever the limit of a poll on state.
READY_TIMEOUT = 240.0


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"cluster: needs a real cluster ({KUBECONFIG_VAR})")


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Without a cluster every test here skips, from this one place, so ``-ra`` folds them into one line."""
    if not os.environ.get(KUBECONFIG_VAR, "").strip():
        pytest.skip(HOW_TO_RUN)


# ------------------------------------------------------------------ the cluster


@dataclass(frozen=True)
class Target:
    """The cluster the suite runs against: a kubeconfig and one of its contexts."""

    kubeconfig: Path
    context: str
    cluster: str

    def api_client(self) -> k8s.ApiClient:
        return kube_config.new_client_from_config(config_file=str(self.kubeconfig), context=self.context)


def prod_problem(context: str, cluster: str, environ: Mapping[str, str] = os.environ) -> str | None:
    """Why the suite refuses this context, or None: a name that says prod, unless someone means it."""
    if "prod" not in f"{context}\n{cluster}".lower() or environ.get(I_MEAN_IT_VAR) == "1":
        return None
    return (
        f"refusing to run the real-cluster suite against context {context!r} (cluster {cluster!r}): its name "
        f"says prod, and this suite creates and deletes namespaces and runs workloads. Point {KUBECONFIG_VAR} "
        f"at a throwaway cluster, or set {I_MEAN_IT_VAR}=1 if this really is one."
    )


@pytest.fixture(scope="session")
def target() -> Target:
    path = os.environ.get(KUBECONFIG_VAR, "").strip()
    if not path:
        pytest.skip(HOW_TO_RUN)
    kubeconfig = Path(path).expanduser()
    if not kubeconfig.is_file():
        pytest.fail(f"{KUBECONFIG_VAR}={path} is not a file; give the path of a kubeconfig", pytrace=False)
    try:
        contexts, current = kube_config.list_kube_config_contexts(config_file=str(kubeconfig))
    except Exception as e:  # an unreadable kubeconfig: one sentence
        pytest.fail(f"cannot read the kubeconfig {kubeconfig}: {e}", pytrace=False)
    wanted = os.environ.get(CONTEXT_VAR) or (current or {}).get("name")
    found = next((c for c in contexts if c.get("name") == wanted), None)
    if found is None:
        known = ", ".join(c.get("name", "?") for c in contexts)
        pytest.fail(f"{kubeconfig} has no context {wanted!r} (it has: {known}); set {CONTEXT_VAR}", pytrace=False)
    cluster = (found.get("context") or {}).get("cluster", "")
    if problem := prod_problem(found["name"], cluster):
        pytest.fail(problem, pytrace=False)
    chosen = Target(kubeconfig, found["name"], cluster)
    try:
        k8s.VersionApi(chosen.api_client()).get_code(_request_timeout=20)
    except Exception as e:
        pytest.fail(f"cannot reach the cluster of context {chosen.context!r} in {kubeconfig}: {e}", pytrace=False)
    return chosen


@pytest.fixture(autouse=True)
def _real_cluster_only(target: Target) -> None:
    """Every test here needs the cluster: skipped (one line, how to run it) without it, refused for prod."""


@pytest.fixture
def namespace(target: Target) -> Iterator[str]:
    """A namespace of this test's own, deleted at the end whatever happened (deletion finishes in the background)."""
    core = k8s.CoreV1Api(target.api_client())
    name = f"gitopsctl-test-{secrets.token_hex(4)}"
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name, labels={TEST_LABEL: "true"})))
    try:
        yield name
    finally:
        with contextlib.suppress(ApiException):  # already gone
            core.delete_namespace(name, propagation_policy="Background")


# ------------------------------------------------------------------ the GitOps repository and the engine


def configmap_yaml(name: str, greeting: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  GREETING: {greeting}\n"


def app_files(tag: str = STABLE, greeting: str = "hello") -> dict[str, str]:
    """The app's manifests in the environment's folder: a Deployment, its Service and a ConfigMap."""
    folder = f"apps/{APP}/{ENV}"
    return {
        f"{folder}/deployment.yaml": deployment_yaml(APP, f"{IMAGE}:{tag}", REPLICAS),
        f"{folder}/service.yaml": service_yaml(APP),
        f"{folder}/configmap.yaml": configmap_yaml(f"{APP}-config", greeting),
    }


def config_text(repo_url: str, target: Target, namespace: str, cache_dir: Path, strategy: str, extra: str) -> str:
    """One environment in the test namespace; serve's lease and the coordination records there too."""
    return (
        textwrap.dedent(
            f"""\
            [git]
            url = "{repo_url}"
            branch = "main"
            cache_dir = "{cache_dir}"
            author_name = "gitopsctl cluster tests"
            author_email = "cluster-tests@gitopsctl.local"

            [environments.{ENV}]
            context = {json.dumps(target.context)}
            kubeconfig = {json.dumps(str(target.kubeconfig))}
            namespace = "{namespace}"
            strategy = "{strategy}"

            [serve]
            lease_namespace = "{namespace}"
            lease_duration = "4s"
            renew_deadline = "3s"
            retry_period = "1s"
            metrics_port = 0

            [apps.{APP}]
            path = "apps/{APP}/{{env}}"
            container = "{APP}"
            """
        )
        + extra
    )


def confined(config: Config, namespace: str) -> None:
    """Refuse a configuration that could let the engine write outside the test namespace."""
    places = {env.namespace for env in config.environments.values()} | {config.serve.lease_namespace}
    others = [n for env in config.environments.values() for n in env.allowed_namespaces if n != namespace]
    assert places == {namespace} and not others, f"the engine would reach beyond {namespace}: {places} {others}"
    assert all(not env.cluster_resources for env in config.environments.values())


class Writes:
    """Every request but a read that the engine's clients send, so a test can show it stayed in its namespace."""

    # creating a SelfSubjectReview stores nothing: it is how the engine asks who it is
    HARMLESS = re.compile(r"^/apis/authentication\.k8s\.io/v1/selfsubjectreviews$")

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def watch(self, api_client: k8s.ApiClient) -> None:
        if getattr(api_client, "_gitopsctl_test_watched", False):
            return
        prefix = urlsplit(api_client.configuration.host).path.rstrip("/")  # a proxy's /k8s/clusters/... prefix
        rest = api_client.rest_client  # every call, typed or dynamic, ends in its request()
        send = rest.request

        def request(method, url, *args, **kwargs):
            if method.upper() not in ("GET", "HEAD", "OPTIONS"):
                with self._lock:
                    self.seen.append((method.upper(), urlsplit(url).path.removeprefix(prefix)))
            return send(method, url, *args, **kwargs)

        rest.request = request
        api_client._gitopsctl_test_watched = True

    def outside(self, namespace: str) -> list[tuple[str, str]]:
        inside = re.compile(rf"^/(api/v1|apis/[^/]+/[^/]+)/namespaces/{re.escape(namespace)}/")
        return [(m, p) for m, p in self.seen if not inside.match(p) and not self.HARMLESS.match(p)]


@dataclass
class ClusterFleet:
    """One app in one environment of the real cluster, from a real Git repository."""

    target: Target
    namespace: str
    repo: GitOpsRepo
    config_path: Path
    engine: Engine
    core: k8s.CoreV1Api
    apps: k8s.AppsV1Api
    coordination: k8s.CoordinationV1Api
    writes: Writes = field(default_factory=Writes)

    def reload(self, *, strategy: str = "direct", extra: str = "") -> Engine:
        """A fresh engine on a rewritten configuration (another strategy, more tables)."""
        self.engine = make_engine(
            self.repo, self.target, self.namespace, self.config_path, self.writes, strategy, extra
        )
        return self.engine

    def head(self) -> git.Commit:
        return git.Repo(self.repo.url).commit("main")

    def deployment(self, name: str = APP) -> k8s.V1Deployment | None:
        try:
            return self.apps.read_namespaced_deployment(name, self.namespace)
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    def image(self, name: str = APP) -> str | None:
        dep = self.deployment(name)
        return dep.spec.template.spec.containers[0].image if dep else None

    def ready_pods(self, selector: str = f"app={APP}") -> int:
        """Pods the cluster (its kubelets, or the sandbox's) reports Running and Ready."""
        pods = self.core.list_namespaced_pod(self.namespace, label_selector=selector).items
        return sum(
            1
            for p in pods
            if p.status
            and p.status.phase == "Running"
            and not p.metadata.deletion_timestamp
            and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
        )


def make_engine(
    repo: GitOpsRepo,
    target: Target,
    namespace: str,
    path: Path,
    writes: Writes,
    strategy: str = "direct",
    extra: str = "",
) -> Engine:
    """An engine confined to ``namespace``, every write of its cluster clients seen by ``writes``."""
    path.write_text(config_text(repo.url, target, namespace, path.parent / "cache", strategy, extra))
    config = config_module.load(str(path))
    confined(config, namespace)
    engine = Engine(config)
    for environment in config.environments.values():
        writes.watch(engine.cluster(environment).api_client)
    writes.watch(engine.coordination()[0].api_client)
    return engine


@pytest.fixture
def cluster_fleet(target: Target, namespace: str, tmp_path: Path) -> Iterator[ClusterFleet]:
    """The app in Git, an engine for it; at the end, proof that the engine wrote nothing outside the namespace."""
    repo = GitOpsRepo(tmp_path)
    repo.commit(app_files(), f"Add {APP} to {ENV}")
    path, writes = tmp_path / "gitopsctl.toml", Writes()
    api_client = target.api_client()
    fleet = ClusterFleet(
        target,
        namespace,
        repo,
        path,
        make_engine(repo, target, namespace, path, writes),
        k8s.CoreV1Api(api_client),
        k8s.AppsV1Api(api_client),
        k8s.CoordinationV1Api(api_client),
        writes,
    )
    yield fleet
    assert writes.outside(namespace) == [], f"the engine wrote outside {namespace}"
