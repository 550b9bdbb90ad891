"""A GitOps repository and configuration for the demo and the tests, made with real Git.

Three apps in dev, staging and prod: ``trade-service`` (plain YAML),
``pricing-api`` (a kustomize base with one overlay per environment) and
``ledger-worker`` (plain YAML with a Secret). The repository is a bare repo,
pushed to from a working clone, exactly as a team's GitOps repo is. The demo
adds a fourth, ``quote-web``, a small Helm chart with values per environment
(``chart_files``), when helm is installed.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import git

ENVIRONMENTS = {"dev": "trading-dev", "staging": "trading-staging", "prod": "trading-prod"}
AUTHOR = git.Actor("gitopsctl demo", "demo@gitopsctl.local")


def deployment_yaml(name: str, image: str, replicas: int, port: int = 8080, extra_container: str = "") -> str:
    return (
        textwrap.dedent(
            f"""\
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: {name}
          labels:
            app: {name}
        spec:
          replicas: {replicas}
          selector:
            matchLabels:
              app: {name}
          template:
            metadata:
              labels:
                app: {name}
            spec:
              containers:
                - name: {name}
                  image: {image}
                  ports:
                    - containerPort: {port}
                  resources:
                    requests:
                      cpu: 100m
                      memory: 128Mi
        """
        )
        + extra_container
    )


def service_yaml(name: str, port: int = 8080) -> str:
    return textwrap.dedent(
        f"""\
        apiVersion: v1
        kind: Service
        metadata:
          name: {name}
          labels:
            app: {name}
        spec:
          selector:
            app: {name}
          ports:
            - port: 80
              targetPort: {port}
        """
    )


def app_files(versions: dict[str, dict[str, str]] | None = None) -> dict[str, str]:
    """Repository path -> content for the three sample apps; ``versions[app][env]`` overrides image tags."""
    versions = versions or {}
    files: dict[str, str] = {}
    replicas = {"dev": 1, "staging": 2, "prod": 3}
    for env in ENVIRONMENTS:
        tag = versions.get("trade-service", {}).get(env, "v1.4.1")
        files[f"apps/trade-service/{env}/deployment.yaml"] = deployment_yaml(
            "trade-service", f"registry.local/trade-service:{tag}", replicas[env]
        )
        files[f"apps/trade-service/{env}/service.yaml"] = service_yaml("trade-service")
        files[f"apps/trade-service/{env}/configmap.yaml"] = textwrap.dedent(
            f"""\
            apiVersion: v1
            kind: ConfigMap
            metadata:
              name: trade-service-config
            data:
              LOG_LEVEL: {"debug" if env == "dev" else "info"}
              MARKETS: "LSE,XETRA"
            """
        )
        tag = versions.get("pricing-api", {}).get(env, "v2.0.0")
        files[f"apps/pricing-api/{env}/kustomization.yaml"] = textwrap.dedent(
            f"""\
            apiVersion: kustomize.config.k8s.io/v1beta1
            kind: Kustomization
            resources:
              - ../base
            images:
              - name: registry.local/pricing-api
                newTag: {tag}
            replicas:
              - name: pricing-api
                count: {replicas[env]}
            """
        )
        tag = versions.get("ledger-worker", {}).get(env, "v0.9.3")
        files[f"apps/ledger-worker/{env}/worker.yaml"] = deployment_yaml(
            "ledger-worker", f"registry.local/ledger-worker:{tag}", 1
        )
        files[f"apps/ledger-worker/{env}/secret.yaml"] = textwrap.dedent(
            f"""\
            apiVersion: v1
            kind: Secret
            metadata:
              name: ledger-db
            stringData:
              password: demo-{env}-s3cret
            """
        )
    files["apps/pricing-api/base/kustomization.yaml"] = "resources:\n  - deployment.yaml\n  - service.yaml\n"
    files["apps/pricing-api/base/deployment.yaml"] = deployment_yaml("pricing-api", "registry.local/pricing-api:v0", 1)
    files["apps/pricing-api/base/service.yaml"] = service_yaml("pricing-api")
    files["README.md"] = "# GitOps repository\n\nManifests per app and environment, synced by gitopsctl.\n"
    return files


CHART_APP = "quote-web"
CHART_TEMPLATE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  labels:
    app: {{ .Release.Name }}
    helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
    app.kubernetes.io/managed-by: {{ .Release.Service }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels:
      app: {{ .Release.Name }}
  template:
    metadata:
      labels:
        app: {{ .Release.Name }}
    spec:
      containers:
        - name: {{ .Release.Name }}
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
          ports:
            - containerPort: 8080
          env:
            - name: QUOTE_CURRENCIES
              value: {{ join "," .Values.currencies | quote }}
          resources:
            requests:
              cpu: 100m
              memory: 128Mi
---
apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}
spec:
  selector:
    app: {{ .Release.Name }}
  ports:
    - port: 80
      targetPort: 8080
"""
CHART_APP_TOML = """
[apps.quote-web]
path = "charts/quote-web"
values = ["values-{env}.yaml"]
version_path = "values-{env}.yaml:image.tag"
"""


def chart_files() -> dict[str, str]:
    """quote-web: a chart whose per-environment values files hold the replicas and the version deploys write."""
    replicas = {"dev": 1, "staging": 2, "prod": 2}
    files = {
        "charts/quote-web/Chart.yaml": "apiVersion: v2\nname: quote-web\nversion: 0.3.0\nappVersion: v3.0.0\n",
        "charts/quote-web/values.yaml": "# defaults; values-ENV.yaml overrides them per environment\n"
        "replicas: 1\nimage:\n  repository: registry.local/quote-web\n  tag: v3.0.0\ncurrencies: [EUR, GBP]\n",
        "charts/quote-web/templates/quote-web.yaml": CHART_TEMPLATE,
    }
    for env in ENVIRONMENTS:
        files[f"charts/quote-web/values-{env}.yaml"] = (
            f"# {env}\nreplicas: {replicas[env]}\nimage:\n  tag: v3.0.0  # gitopsctl deploy writes this line\n"
        )
    return files


class GitOpsRepo:
    """A bare GitOps repository and a working clone that pushes to it."""

    def __init__(self, root: Path) -> None:
        self.bare_path = root / "gitops.git"
        self.work_path = root / "gitops-work"
        if not self.bare_path.exists():
            git.Repo.init(self.bare_path, bare=True, initial_branch="main")
            work = git.Repo.init(self.work_path, initial_branch="main")
            work.create_remote("origin", str(self.bare_path))
        self.work = git.Repo(self.work_path)

    @property
    def url(self) -> str:
        return str(self.bare_path)

    def read(self, rel: str) -> str:
        """A file as the remote's head has it."""
        self.work.remote("origin").fetch("main")
        return self.work.git.show(f"origin/main:{rel}")

    def commit(self, files: dict[str, str | None], message: str, author: git.Actor | None = None) -> str:
        """Write (or, for None, delete) files, commit and push; returns the commit SHA.

        Starts from the remote's head, since gitopsctl pushes to it too (deploys, reverts).
        """
        if self.work.head.is_valid():
            self.work.remote("origin").fetch("main")
            self.work.git.reset("--hard", "origin/main")
        for rel, content in files.items():
            target = self.work_path / rel
            if content is None:
                if target.exists():
                    self.work.index.remove([rel], working_tree=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
            self.work.index.add([rel])
        commit = self.work.index.commit(message, author=author or AUTHOR, committer=author or AUTHOR)
        self.work.remote("origin").push("main:main").raise_if_error()
        return commit.hexsha


MIGRATION = textwrap.dedent(
    """\
    # trade-service's schema migration: a PreSync hook, run to completion before each sync applies anything
    apiVersion: batch/v1
    kind: Job
    metadata:
      name: trade-service-migrate
      annotations:
        argocd.argoproj.io/hook: PreSync
        argocd.argoproj.io/hook-delete-policy: BeforeHookCreation
    spec:
      backoffLimit: 1
      template:
        spec:
          restartPolicy: Never
          containers:
            - name: migrate
              image: registry.local/trade-service-migrations:v12
              args: [migrate, --to, latest]
    """
)


BEFORE_THE_CANARY = MIGRATION.replace(
    "a PreSync hook, run to completion before each sync applies anything",
    "run before each sync (PreSync) and, prod being a canary, before each canary serves traffic (PreRollout)",
).replace("argocd.argoproj.io/hook: PreSync", "gitopsctl.io/hook: PreRollout, PreSync")


def migration_files() -> dict[str, str]:
    """trade-service's migration hook in every environment (the demo's; tests add their own hooks); prod, a
    canary environment, runs it before each canary too (a PreSync hook alone would run at the promotion)."""
    return {
        f"apps/trade-service/{env}/migrate.yaml": BEFORE_THE_CANARY if env == "prod" else MIGRATION
        for env in ENVIRONMENTS
    }


def seed(root: Path, versions: dict[str, dict[str, str]] | None = None) -> GitOpsRepo:
    repo = GitOpsRepo(root)
    repo.commit(app_files(versions), "Seed the GitOps repository with three sample apps")
    return repo


def config_text(repo_url: str, kubeconfig: Path, cache_dir: Path) -> str:
    """A configuration for the seeded apps, every environment a namespace of one sandbox cluster."""
    envs = "\n".join(
        textwrap.dedent(
            f"""\
            [environments.{env}]
            context = "sandbox"
            kubeconfig = "{kubeconfig}"
            namespace = "{namespace}"
            strategy = "direct"
            """
        )
        for env, namespace in ENVIRONMENTS.items()
    )
    return (
        textwrap.dedent(
            f"""\
            [git]
            url = "{repo_url}"
            branch = "main"
            cache_dir = "{cache_dir}"
            author_name = "gitopsctl demo"
            author_email = "demo@gitopsctl.local"

            """
        )
        + envs
        + textwrap.dedent(
            """
            [apps.trade-service]
            path = "apps/trade-service/{env}"
            container = "trade-service"

            [apps.pricing-api]
            path = "apps/pricing-api/{env}"
            container = "pricing-api"

            [apps.ledger-worker]
            path = "apps/ledger-worker/{env}"
            container = "ledger-worker"
            """
        )
    )
