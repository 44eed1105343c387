"""Search the store without generating an answer."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool

from app.http.deps import ServicesDep
from app.schemas import SearchRequest, SearchResponse, error_responses

router = APIRouter(prefix="/api", tags=["search"])


@router.post("/search", response_model=SearchResponse, responses=error_responses(400, 503))
async def search(body: SearchRequest, services: ServicesDep) -> Response:
    """The best-matching passages for a query, best first.

    `mode` picks dense (embeddings), lexical (BM25 keywords) or hybrid (both, fused).
    """
    results = await run_in_threadpool(services.rag.search, body.query, body.top_k, body.mode)
    # Serialised once by the model it is: returned as a model, FastAPI dumps it, validates
    # the dump again on a worker thread and serialises that, all of it holding the
    # interpreter lock that concurrent searches share (DECISIONS.md, "One serialisation of
    # the /api/search reply").
    body_json = SearchResponse(results=results).model_dump_json()
    return Response(body_json, media_type="application/json")
