"""A local Kubernetes API emulator for tests and the demo.

Reached through a kubeconfig exactly like a real cluster; the rest of gitopsctl
never knows the difference. See :class:`Sandbox`.
"""

from .cluster import Sandbox
from .controllers import Timing

__all__ = ["Sandbox", "Timing"]
