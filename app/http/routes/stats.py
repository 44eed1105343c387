"""Counts, model names and store size."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from app.http.deps import ServicesDep
from app.schemas import error_responses

router = APIRouter(prefix="/api", tags=["stats"])


@router.get("/stats", responses=error_responses(503))
async def stats(services: ServicesDep) -> dict[str, Any]:
    """Documents, chunks, store size on disk, the models in use, and the summary of the
    latest `ragqa eval` run against this store (null if none)."""
    out = await run_in_threadpool(services.store.stats)
    latest = await run_in_threadpool(services.store.note, "last_eval")
    out["last_eval"] = json.loads(latest) if latest else None
    out["generator_model"] = services.generator.model_name
    out["context_window"] = services.generator.context_window
    return out
