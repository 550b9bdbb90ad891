"""A local Kubernetes API emulator for the tests, the benchmarks and the demo.

Reached through a kubeconfig exactly like a real cluster, so the engine never
knows the difference and never imports this package. It needs nothing of
gitopsctl but the Kubernetes structure it shares (``gitopsctl.kube``) and the
error tree. See :class:`Sandbox`; ``gitopsctl sandbox up`` runs one
(``kubesandbox.command``).
"""

from .cluster import Sandbox
from .controllers import Timing

__all__ = ["Sandbox", "Timing"]
