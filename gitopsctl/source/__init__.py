"""Reading the GitOps repository: fetching revisions and rendering each app's manifests."""
