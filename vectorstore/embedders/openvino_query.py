"""Query embeddings on OpenVINO: the fp32 ONNX export run in bf16 where the CPU has it.

A search's largest cost is embedding its query (~20 tokens through six layers), and a
query is where int8 rounding costs the most recall. On a CPU with AVX512-BF16 OpenVINO runs
the same export in bf16 for less CPU than ONNX Runtime takes in fp32, with practically the
same vectors; on one without it, in fp32, still a little ahead. Documents keep ONNX Runtime
int8 (bulk work, where int8's speed pays); only the query path runs here. Figures:
DECISIONS.md, "Queries embedded by OpenVINO in bf16".
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import NDArray

OUTPUT = "sentence_embedding"


def available() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


class OpenVinoQuery:
    """Runs a sentence-embedding ONNX model for one text at a time, from any thread."""

    def __init__(self, model_file: Path, streams: int = 1) -> None:
        """`streams`: how many queries may run at once, one thread each (the cores)."""
        import openvino as ov

        core = ov.Core()
        bf16 = "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
        self.precision = "bf16" if bf16 else "f32"
        config = {
            "INFERENCE_PRECISION_HINT": self.precision,
            # One thread a query (a query is too small to split), and a stream per core:
            # a compiled model runs one query at a time per stream, so with the single
            # stream of the LATENCY hint every search's query would wait for the others'
            # on one core; the streams share the weights (DECISIONS.md, "Query embeddings
            # on a stream per core").
            "NUM_STREAMS": streams,
            "INFERENCE_NUM_THREADS": streams,
        }
        self._model = core.compile_model(core.read_model(str(model_file)), "CPU", config)
        self._output = self._model.output(OUTPUT)
        self._local = threading.local()  # an infer request serves one thread at a time

    def run(self, feeds: dict[str, NDArray[np.int64]]) -> NDArray[np.float32]:
        request: Any = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self._model.create_infer_request()
        result = request.infer(feeds)
        return np.asarray(result[self._output], dtype=np.float32)
