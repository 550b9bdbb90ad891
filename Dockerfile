# gitopsctl serve in a container. Build: docker build -t gitopsctl:0.1.0 .
# Runs as a non-root user with a read-only root filesystem (see deploy/deployment.yaml);
# Git clones live in /var/cache/gitopsctl, an emptyDir.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gitopsctl ./gitopsctl
COPY bot ./bot
COPY tui ./tui
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/cache/gitopsctl gitopsctl
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER 10001
ENV GITOPSCTL_CONFIG=/etc/gitopsctl/gitopsctl.toml HOME=/var/cache/gitopsctl
EXPOSE 3000 9102
ENTRYPOINT ["gitopsctl"]
CMD ["serve", "--slack-mode", "socket"]
