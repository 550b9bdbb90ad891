"""The cluster side: the official kubernetes client, apply, health and the records kept in the cluster."""
