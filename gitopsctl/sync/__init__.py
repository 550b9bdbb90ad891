"""Sync: make one app in one environment match Git; the diff and the observation that status and drift share.

render -> prepare (namespaces, tracking, the boundary) -> observe live (one LIST
per kind and namespace) -> plan (diff; objects of other apps refused; prune
candidates) -> validate (refusals, server-side dry-run of every write) -> apply
in stages -> prune -> wait for health -> record.
Nothing is written until every check has passed.

The boundary, like Argo CD's AppProject destinations and resource allow-lists:
an app in an environment may place namespaced objects only in the environment's
``allowed_namespaces`` (its ``namespace`` always), cluster-scoped objects only of
the environment's ``cluster_resources`` kinds (a Namespace object also only if
it is one of the allowed namespaces), and, when the app lists ``kinds``, only
those kinds. It never takes over, changes or prunes an object another
app/environment tracks, and prunes only inside its own boundary.
"""

from .apply import assess, execute, version_of, wait_healthy
from .observe import Observation, find_untracked, foreign, observe, refuse_foreign
from .plan import Plan, make_plan, missing_namespaces, refuse_unsafe_prune, stage, validate
from .prepare import BoundaryError, Refusal, prepare
from .tracking import TRACKED_SELECTOR, TRACKING_ANNOTATION, app_selector, is_tracked_by, tracking_id

__all__ = [
    "TRACKED_SELECTOR",
    "TRACKING_ANNOTATION",
    "BoundaryError",
    "Observation",
    "Plan",
    "Refusal",
    "app_selector",
    "assess",
    "execute",
    "find_untracked",
    "foreign",
    "is_tracked_by",
    "make_plan",
    "missing_namespaces",
    "observe",
    "prepare",
    "refuse_foreign",
    "refuse_unsafe_prune",
    "stage",
    "tracking_id",
    "validate",
    "version_of",
    "wait_healthy",
]
