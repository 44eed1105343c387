"""Counts, model names and store size."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from app.deps import ServicesDep

router = APIRouter(prefix="/api", tags=["stats"])


@router.get("/stats")
async def stats(services: ServicesDep) -> dict[str, Any]:
    """Documents, chunks, store size on disk, and the models in use."""
    out = await run_in_threadpool(services.store.stats)
    out["generator_model"] = services.generator.model_name
    out["context_window"] = services.generator.context_window
    return out
