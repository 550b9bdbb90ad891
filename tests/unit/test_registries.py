"""The names the configuration accepts are exactly the routers and providers the engine can build."""

from __future__ import annotations

from gitopsctl import config
from gitopsctl.analysis import providers
from gitopsctl.rollout import traffic


def test_every_router_the_configuration_accepts_can_be_built_and_no_other():
    assert config.TRAFFIC_ROUTERS == traffic.ROUTERS


def test_every_provider_the_configuration_accepts_can_be_built_and_no_other():
    assert config.PROVIDERS == providers.PROVIDERS
