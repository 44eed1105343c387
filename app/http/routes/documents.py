"""Upload, list, inspect and delete documents."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query, Response, UploadFile
from fastapi.concurrency import run_in_threadpool

from app.http.deps import ServicesDep
from app.http.routes import paths  # noqa: F401 - registers the `anytext` convertor
from app.schemas import (
    ChunkOut,
    DocumentDetail,
    DocumentList,
    DocumentStatus,
    DocumentSummary,
    UploadResponse,
    error_responses,
)
from ingest.uploads import Upload, UploadError, ingest_uploads

router = APIRouter(prefix="/api/documents", tags=["documents"])
READ_CHUNK = 1024 * 1024


@router.post("", response_model=UploadResponse, responses=error_responses(400, 413, 415, 422, 503))
async def upload(files: list[UploadFile], services: ServicesDep) -> UploadResponse:
    """Ingest uploaded files (multipart field `files`) with the same pipeline as the CLI.

    A file with unchanged content is reported `unchanged` and not embedded again. If any
    file is rejected, nothing from the request is stored. The request body as a whole is
    capped before this runs (RAGQA_MAX_REQUEST_BYTES); the multipart parser has spooled
    each file to disk, so here only the per-file cap and file count remain.
    """
    settings = services.settings
    if len(files) > settings.max_upload_files:
        raise HTTPException(413, f"at most {settings.max_upload_files} files per request")
    limit = settings.max_upload_bytes
    uploads = []
    for f in files:
        if f.size is not None and f.size > limit:
            raise HTTPException(413, f"{f.filename}: larger than the {limit}-byte upload limit")
        data = bytearray()
        while chunk := await f.read(READ_CHUNK):
            data += chunk
            if len(data) > limit:  # a parser that did not report the size
                raise HTTPException(413, f"{f.filename}: larger than the {limit}-byte upload limit")
        uploads.append(Upload(f.filename or "upload", bytes(data)))
    try:
        results = await run_in_threadpool(ingest_uploads, services.pipeline, uploads)
    except UploadError as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    return UploadResponse(
        documents=[
            DocumentStatus(id=r.id, source=r.source, status=r.status, chunks=r.chunks)
            for r in results
        ]
    )


@router.get("", response_model=DocumentList)
async def list_documents(
    services: ServicesDep,
    offset: int = Query(0, ge=0, le=2**63 - 1),
    limit: int = Query(100, ge=1, le=1000),
) -> DocumentList:
    """Stored documents, ordered by id."""
    infos, total = await run_in_threadpool(services.store.list_documents, offset, limit)
    return DocumentList(
        documents=[
            DocumentSummary(
                id=i.id, source=i.source, title=i.title, chunks=i.chunks, ingested_at=i.ingested_at
            )
            for i in infos
        ],
        total=total,
    )


@router.get("/{doc_id:anytext}", response_model=DocumentDetail, responses=error_responses(404))
async def get_document(doc_id: str, services: ServicesDep) -> DocumentDetail:
    """One document and its chunks. The id is URL-encoded and may contain `/`."""
    info = await run_in_threadpool(services.store.get_info, doc_id)
    if info is None:
        raise HTTPException(404, f"no document with id {doc_id!r}")
    chunks = await run_in_threadpool(services.store.get_chunks, doc_id)
    return DocumentDetail(
        id=info.id,
        source=info.source,
        title=info.title,
        metadata=info.metadata,
        chunks=[
            ChunkOut(chunk_id=c.chunk_id, text=c.text, context=c.context, metadata=c.metadata)
            for c in chunks
        ],
    )


@router.delete("/{doc_id:anytext}", status_code=204, responses=error_responses(404))
async def delete_document(doc_id: str, services: ServicesDep) -> Response:
    """Remove a document from every index."""

    def delete() -> bool:
        with services.store.writer():
            return services.store.delete_document(doc_id)

    if not await run_in_threadpool(delete):
        raise HTTPException(404, f"no document with id {doc_id!r}")
    return Response(status_code=204)
