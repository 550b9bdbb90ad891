"""Releases: planning a deploy, approval requests, freezes, and carrying a deploy, an approval or a rollback out.

``policy.py`` holds the pure rules (freeze windows, who may approve),
``requests.py`` and ``freezes.py`` the records kept in the cluster,
``plan.py`` every check before anything is written, and ``promotions.py``
the execution: a Git commit under the app/environment's lock, then a sync or a
canary.
"""
