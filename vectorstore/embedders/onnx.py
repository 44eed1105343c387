"""An Embedder on ONNX Runtime: the cached export of a sentence-transformers model.

At run time it needs only onnxruntime, the `tokenizers` library and numpy, not torch:
start-up is quicker and the process smaller. The export (vectorstore/embedders/onnx_export.py)
happens once per model and recipe, on first use.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vectorstore.bundled import resolve_model
from vectorstore.cores import usable_cores
from vectorstore.embedders.base import count_letters
from vectorstore.embedders.onnx_export import META_FILE, MODEL_FILE, ensure_export

if TYPE_CHECKING:
    from numpy.typing import NDArray


Runner = Callable[[dict[str, "NDArray[np.int64]"]], "NDArray[np.float32]"]
log = logging.getLogger(__name__)

# Texts up to this many are tokenized one by one (no thread pool): the query and a few
# passages at search time.
SMALL_BATCH = 8


def _unknown_letters(text: str, encoding: Any, unk: int) -> int:
    ids = encoding.ids  # each read of .ids or .offsets builds a new Python list
    if unk not in ids:  # most texts: one scan in C, and their offsets never built
        return 0
    offsets = encoding.offsets
    return sum(count_letters(text[slice(*offsets[k])]) for k, i in enumerate(ids) if i == unk)


def tokenizer_pool_on() -> bool:
    """Whether the tokenizers library uses its thread pool: TOKENIZERS_PARALLELISM read
    as the library reads it (on unless set to an off value)."""
    value = os.environ.get("TOKENIZERS_PARALLELISM")
    return value is None or value.lower() not in ("", "off", "false", "f", "no", "n", "0")


class OnnxEmbedder:
    """Same vectors as SentenceTransformerEmbedder up to int8 rounding.

    With `quantize`, documents go through the int8 model (bulk ingest is where speed
    counts) and queries through the fp32 export: a query is short and alone, where int8
    rounding costs the most recall. The fp32 query costs more CPU, so it runs on OpenVINO
    in bf16 where that is installed (the same rankings; openvino_query.py). Figures:
    DECISIONS.md, "Retrieval quality" (the embedding rows).
    """

    def __init__(
        self,
        model: str,
        *,
        cache_dir: Path,
        quantize: bool = True,
        batch_size: int = 32,
        threads: int | None = None,
    ) -> None:
        self._name = model
        self._cache_dir = cache_dir
        self._quantize = quantize
        self._batch_size = batch_size
        self._threads = threads
        self._lock = threading.Lock()
        self._session: Any = None
        self._runner: Runner | None = None  # documents
        self._query_runner: Runner | None = None
        self._query_model = Path()  # the fp32 export, for queries of a quantized embedder
        self._meta: dict[str, Any] = {}
        self._encoder: Any = None  # truncates at max_seq_length, adds [CLS]/[SEP]
        self._counter: Any = None  # neither: counts what a text really costs
        # Per thread: searches run side by side, and a shared slot would be overwritten
        # between a search's two calls, so its query would be tokenized twice.
        self._local = threading.local()

    @property
    def backend(self) -> str:
        return "onnx-int8" if self._quantize else "onnx"

    def load(self) -> OnnxEmbedder:
        with self._lock:
            if self._session is None:
                self._load()
        return self

    def _load(self) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        resolved = resolve_model(self._name)
        folder = ensure_export(self._cache_dir, self._name, resolved, self._quantize)
        meta = json.loads((folder / META_FILE).read_text())
        options = ort.SessionOptions()
        options.intra_op_num_threads = self._threads or usable_cores()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(
            str(folder / MODEL_FILE), options, providers=["CPUExecutionProvider"]
        )
        runner = _ort_runner(session)
        # Queries go through the fp32 export, made ready on the first query: an ingest
        # never embeds one, and compiling it for OpenVINO costs time and memory
        # (DECISIONS.md, "Queries embedded by OpenVINO in bf16").
        query_runner = None if self._quantize else runner
        if self._quantize:
            fp32 = ensure_export(self._cache_dir, self._name, resolved, quantize=False)
            self._query_model = fp32 / MODEL_FILE
        encoder = Tokenizer.from_file(str(folder / "tokenizer.json"))
        encoder.no_padding()
        encoder.enable_truncation(max_length=int(meta["max_seq_length"]))
        counter = Tokenizer.from_file(str(folder / "tokenizer.json"))
        counter.no_padding()
        counter.no_truncation()
        self._meta, self._encoder, self._counter = meta, encoder, counter
        self._runner, self._query_runner = runner, query_runner
        self._session = session

    @property
    def model_name(self) -> str:
        return self._name

    @property
    def dimension(self) -> int:
        return int(self.load()._meta["dimension"])

    @property
    def max_tokens(self) -> int:
        # max_seq_length counts [CLS] and [SEP]; chunk text must leave room for both.
        return int(self.load()._meta["max_seq_length"]) - 2

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        return [len(e.ids) for e in self._plain(texts)]

    def _plain(self, texts: Sequence[str]) -> list[Any]:
        """Encodings without special tokens. The retriever asks count_tokens and then
        unknown_letters of the same texts: the last batch is kept so it is encoded once."""
        key = tuple(texts)
        last: tuple[tuple[str, ...], list[Any]] | None = getattr(self._local, "plain", None)
        if last is not None and last[0] == key:
            return list(last[1])
        counter = self.load()._counter
        if len(texts) <= SMALL_BATCH and tokenizer_pool_on():
            # encode_batch hands even one text to the rayon pool, whose idle workers spin
            # after it, taking the other core from concurrent searches.
            encoded = [counter.encode(text, add_special_tokens=False) for text in texts]
        else:
            # encode_batch lets go of the interpreter lock while it works (encode holds
            # it): with the pool off, as `ragqa serve` runs, concurrent searches tokenize
            # their passages side by side (DECISIONS.md, "Passages tokenized without
            # holding the interpreter lock").
            encoded = counter.encode_batch(list(texts), add_special_tokens=False)
        self._local.plain = (key, encoded)
        return list(encoded)

    def unknown_letters(self, texts: Sequence[str]) -> list[int]:
        # As SentenceTransformerEmbedder.unknown_letters: letters hidden behind [UNK].
        unk = self.load()._meta.get("unk_id")
        if not texts:
            return []
        if unk is None:
            return [0] * len(texts)
        return [
            _unknown_letters(text, e, unk)
            for text, e in zip(texts, self._plain(texts), strict=True)
        ]

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        self.load()
        encoded = self._encoder.encode_batch(list(texts))
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        # Longest first, as sentence-transformers does: batches of similar lengths pad less.
        order = sorted(range(len(texts)), key=lambda i: -len(encoded[i].ids))
        for start in range(0, len(order), self._batch_size):
            rows = order[start : start + self._batch_size]
            out[rows] = self._run([encoded[i] for i in rows])
        return out

    def embed_query(self, text: str) -> NDArray[np.float32]:
        self.load()
        return self._run([self._encoder.encode(text)], self._queries())[0]

    def _queries(self) -> Runner:
        """The query runner, made on first use."""
        runner = self._query_runner
        if runner is None:
            with self._lock:
                if self._query_runner is None:
                    import onnxruntime as ort

                    self._query_runner = _query_runner(ort, self._query_model)
                runner = self._query_runner
        return runner

    def _run(self, encodings: Sequence[Any], runner: Runner | None = None) -> NDArray[np.float32]:
        width = max(len(e.ids) for e in encodings)
        feeds = {
            name: np.zeros((len(encodings), width), dtype=np.int64) for name in self._meta["inputs"]
        }
        feeds["input_ids"].fill(int(self._meta["pad_id"]))
        for row, e in enumerate(encodings):
            n = len(e.ids)
            feeds["input_ids"][row, :n] = e.ids
            feeds["attention_mask"][row, :n] = 1
            if "token_type_ids" in feeds:
                feeds["token_type_ids"][row, :n] = e.type_ids
        run = runner or self._runner
        assert run is not None  # made by load()
        vectors = run(feeds)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.asarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


def _ort_runner(session: Any) -> Runner:
    def run(feeds: dict[str, NDArray[np.int64]]) -> NDArray[np.float32]:
        (vectors,) = session.run(["sentence_embedding"], feeds)
        return np.asarray(vectors, dtype=np.float32)

    return run


def _query_runner(ort: Any, model_file: Path) -> Runner:
    """The fp32 export for queries: on OpenVINO (bf16 where the CPU has it) when it is
    installed and compiles the model, else on ONNX Runtime."""
    from vectorstore.embedders import openvino_query

    if openvino_query.available():
        try:
            return openvino_query.OpenVinoQuery(model_file, streams=usable_cores()).run
        except Exception as exc:  # noqa: BLE001 - any OpenVINO failure: the ORT path works
            log.warning(
                "OpenVINO could not compile %s (%s); queries use ONNX Runtime", model_file, exc
            )
    session = ort.InferenceSession(
        str(model_file), _query_options(ort), providers=["CPUExecutionProvider"]
    )
    return _ort_runner(session)


def _query_options(ort: Any) -> Any:
    """One thread per query, none spinning: a query is ~20 tokens, requests already run
    side by side, and ONNX Runtime's default (a thread per core, spinning between runs)
    takes the other core from them (DECISIONS.md, "Per-thread settings for FAISS, ONNX
    Runtime and the tokenizers")."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options
