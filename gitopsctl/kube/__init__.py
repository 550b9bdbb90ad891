"""Kubernetes knowledge shared by the engine and the sandbox: list merge keys, field paths, quantities."""
