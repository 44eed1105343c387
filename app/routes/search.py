"""Search the store without generating an answer."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from app.deps import ServicesDep
from app.schemas import SearchRequest, SearchResponse, error_responses

router = APIRouter(prefix="/api", tags=["search"])


@router.post("/search", response_model=SearchResponse, responses=error_responses(400, 503))
async def search(body: SearchRequest, services: ServicesDep) -> SearchResponse:
    """The best-matching passages for a query, best first.

    `mode` picks dense (embeddings), lexical (BM25 keywords) or hybrid (both, fused).
    """
    results = await run_in_threadpool(services.rag.search, body.query, body.top_k, body.mode)
    return SearchResponse(results=results)
