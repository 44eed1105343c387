"""Dependency aliases for route handlers: `services: ServicesDep` and friends."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from app.services import Services


def get_services(request: Request) -> Services:
    services: Services | None = getattr(request.app.state, "services", None)
    if services is None or not services.ready.is_set():
        raise HTTPException(503, "the service is still loading its models; retry shortly")
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
