"""Drift: live state changed outside Git, found, decided on and reported.

- ``model``: what a scan finds (AppDrift, DriftReport), plain values the front ends render.
- ``scan``: compare the fleet with Git, one LIST per (kind, namespace) per cluster.
- ``settle``: the pure decision of what one scan means for one app's incident
  (open, unchanged, changed, remind, resolve, heal, skip), tested in tables.
- ``incidents``: DriftReports carries those decisions out (incidents kept in a
  ConfigMap per environment, reported through a Notifier).
- ``watch``: informers that see a hand-made change within seconds and ask for a check.
"""
