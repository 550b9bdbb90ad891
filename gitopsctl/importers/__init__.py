"""Importing Argo CD and Argo Rollouts manifests as gitopsctl configuration.

Teams arrive with Applications, Rollouts and AnalysisTemplates. An import maps
each field to the gitopsctl key that does the same, and every field without
one becomes a note: a comment in the TOML it prints ("not imported: FIELD
(why)", or "converted: FIELD (how)"). What it prints always passes
`gitopsctl config check`; a bad value is one sentence and nothing else.

- ``manifests``: reading the files (size-limited, ``yaml.safe_load_all`` only, aliases bounded, kinds checked).
- ``fields``: reading a manifest field by field, so every field never read is noted.
- ``argocd``: Applications to ``[git]``, environments and apps.
- ``argo_rollouts``: Rollouts to canaries; ``argo_analysis``: their templates to ``[analysis.templates]``.
- ``document``: the draft configuration, checked by the parser and rendered with tomlkit.
"""

from .argo_rollouts import KINDS as ARGO_ROLLOUTS_KINDS
from .argo_rollouts import import_argo_rollouts
from .argocd import KINDS as ARGOCD_KINDS
from .argocd import import_argocd
from .document import Imported
from .fields import Note
from .manifests import MAX_FILE_BYTES, Manifest, load_manifests, one_line

__all__ = [
    "ARGOCD_KINDS",
    "ARGO_ROLLOUTS_KINDS",
    "MAX_FILE_BYTES",
    "Imported",
    "Manifest",
    "Note",
    "import_argo_rollouts",
    "import_argocd",
    "load_manifests",
    "one_line",
]
