"""The parts a running service holds, built once at start-up."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from app.config import Settings
from app.generators.base import Generator
from app.rag import RagService
from ingest.pipeline import Pipeline
from vectorstore.embedder import Embedder
from vectorstore.store import Store


@dataclass
class Services:
    settings: Settings
    store: Store
    embedder: Embedder
    generator: Generator
    rag: RagService
    pipeline: Pipeline
    ready: threading.Event = field(default_factory=threading.Event)
