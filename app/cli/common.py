"""What the command groups share: settings from flags, the parts a command needs."""

from __future__ import annotations

import argparse
from typing import Any

from app.config import Settings


def settings_from(args: argparse.Namespace, **fixed: Any) -> Settings:
    """Settings from the environment, overridden by the flags given, then by `fixed`."""
    overrides: dict[str, Any] = {}
    names = ("store", "host", "port", "embedding_model", "embedding_backend")
    for name in (*names, "generator_model", "device", "allow_no_auth"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    return Settings(**{**overrides, **fixed})


def embedder_for(settings: Settings) -> Any:
    from app.services import build_embedder

    return build_embedder(settings)


def services_from(args: argparse.Namespace, with_generator: bool, **fixed: Any) -> Any:
    """Store, embedder and (unless not needed, then the echo) generator, built once."""
    from app.generators.echo import EchoGenerator
    from app.services import build_services

    settings = settings_from(args, **fixed)
    return build_services(settings, generator=None if with_generator else EchoGenerator())
