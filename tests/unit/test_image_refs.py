"""Image references as the engine reads them: the repository, the tag, the digest."""

from __future__ import annotations

import pytest

from gitopsctl.source.manifests import image_repository, image_tag


@pytest.mark.parametrize(
    ("image", "repository", "tag"),
    [
        ("nginx", "nginx", "latest"),
        ("nginx:1.27", "nginx", "1.27"),
        ("registry.local/trade-service:v1.4.2", "registry.local/trade-service", "v1.4.2"),
        ("registry:5000/team/app", "registry:5000/team/app", "latest"),  # the port is not a tag
        ("registry:5000/team/app:v2", "registry:5000/team/app", "v2"),
        ("registry:5000/team/app@sha256:abc", "registry:5000/team/app", "sha256:abc"),
        ("registry:5000/team/app:v2@sha256:abc", "registry:5000/team/app", "v2"),
        ("localhost:5000/app", "localhost:5000/app", "latest"),
    ],
)
def test_repository_and_tag(image, repository, tag):
    assert (image_repository(image), image_tag(image)) == (repository, tag)
