"""The names the configuration accepts are exactly the routers and providers the engine can build."""

from __future__ import annotations

from gitopsctl import config
from gitopsctl.analysis import providers
from gitopsctl.rollout import traffic


def test_every_router_the_configuration_accepts_can_be_built_and_no_other():
    assert config.TRAFFIC_ROUTERS == traffic.ROUTERS


def test_every_provider_the_configuration_accepts_can_be_built_and_no_other():
    assert config.PROVIDERS == providers.PROVIDERS


def test_no_module_of_the_engine_is_over_400_lines():
    """The house stays small rooms (issue 14): a module that grows past this is split by what it does."""
    from pathlib import Path

    root = Path(config.__file__).resolve().parents[1]
    sizes = {str(p.relative_to(root)): len(p.read_text().splitlines()) for p in root.rglob("*.py")}
    assert {name: n for name, n in sizes.items() if n > 400} == {}
