"""Checks that run the service under load and feed it hostile input."""
