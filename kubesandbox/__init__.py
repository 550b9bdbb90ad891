"""A local Kubernetes API emulator for the tests, the benchmarks and the demo.

Reached through a kubeconfig exactly like a real cluster, so the engine never
knows the difference and never imports this package. It needs nothing of
gitopsctl but the Kubernetes structure it shares (``gitopsctl.kube``) and the
error tree. See :class:`Sandbox`; ``gitopsctl sandbox up`` runs one
(``kubesandbox.command``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .cluster import Sandbox
    from .controllers import Timing

__all__ = ["Sandbox", "Timing"]


def __getattr__(name: str) -> Any:
    """``Sandbox`` and ``Timing`` load when first used: ``gitopsctl sandbox``'s arguments are registered at every
    command's start-up, and the emulator (TLS, the API, the controllers) is a quarter second of imports."""
    if name == "Sandbox":
        from .cluster import Sandbox

        return Sandbox
    if name == "Timing":
        from .controllers import Timing

        return Timing
    raise AttributeError(f"module 'kubesandbox' has no attribute {name!r}")
