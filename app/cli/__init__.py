"""The `ragqa` command line: one module a command group, shared helpers in common.py."""
