"""HTTP plumbing: access, admission, metrics, log lines, streaming, the routes."""
