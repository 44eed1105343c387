"""Export a sentence-transformers model to ONNX once, optionally int8-quantised, and cache it.

Why not optimum: optimum-onnx pins transformers < 4.58 and would downgrade the whole
stack. The recipe here is the one optimum runs for BERT-like encoders: export the model
(pooling and normalisation included, so any sentence-transformers pooling works), fuse
attention/LayerNorm/GELU with onnxruntime's transformer optimizer, then dynamic int8
quantisation with per-channel weight scales (per-tensor scales move the vectors much
further from fp32's: DECISIONS.md, "Retrieval quality").
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

log = logging.getLogger("ragqa")

# Bump when the recipe changes, so caches made by an older recipe are not reused.
RECIPE = "1"
MODEL_FILE = "model.onnx"
META_FILE = "meta.json"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class OnnxExportError(RuntimeError):
    """The model could not be exported; the message names the setting that avoids it."""


def cache_folder(cache_dir: Path, model: str, resolved: str, quantize: bool) -> Path:
    """Where the export of `model` lives: keyed by the model's files, the recipe and int8."""
    return cache_dir / "onnx" / _fingerprint(model, resolved, quantize)


def _fingerprint(model: str, resolved: str, quantize: bool) -> str:
    parts = [RECIPE, model, resolved, "int8" if quantize else "fp32"]
    folder = Path(resolved)
    if folder.is_dir():
        # A changed model in the same folder must not reuse a stale export.
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                st = f.stat()
                parts.append(f"{f.relative_to(folder)}:{st.st_size}:{int(st.st_mtime)}")
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in model)[-48:]
    return f"{safe}-{'int8' if quantize else 'fp32'}-{digest}"


def ensure_export(cache_dir: Path, model: str, resolved: str, quantize: bool) -> Path:
    """The cached export folder for the model, exporting it first if it is missing.

    A file lock serialises concurrent first starts (service and ingest job); the folder is
    written under a temporary name and renamed, so a crash never leaves half an export.
    """
    from filelock import FileLock

    target = cache_folder(cache_dir, model, resolved, quantize)
    if (target / META_FILE).exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if (target / META_FILE).exists():
            return target
        log.info("exporting %s to ONNX%s (once; cached in %s)", model, " int8" * quantize, target)
        work = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
        try:
            _export(resolved, work, quantize)
            os.replace(work, target)
        except OnnxExportError:
            raise
        except Exception as exc:
            raise OnnxExportError(
                f"could not export {model!r} to ONNX ({type(exc).__name__}: {exc}); "
                "set RAGQA_EMBEDDING_BACKEND=torch to run it with PyTorch instead"
            ) from exc
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return target


def _export(resolved: str, out: Path, quantize: bool) -> None:
    import torch
    from sentence_transformers import SentenceTransformer

    # Eager attention traces to the MatMul/Softmax pattern the optimizer fuses into one
    # Attention op; SDPA traces to a graph it does not recognise.
    st = SentenceTransformer(
        resolved, device="cpu", model_kwargs={"attn_implementation": "eager"}
    ).eval()
    tokenizer = st.tokenizer
    if not getattr(tokenizer, "is_fast", False):
        raise OnnxExportError(
            "the model has no fast tokenizer (tokenizer.json); "
            "set RAGQA_EMBEDDING_BACKEND=torch to run it with PyTorch"
        )
    inputs = [n for n in INPUTS if n in tokenizer.model_input_names]
    sample = tokenizer(["a short one", "and a somewhat longer sentence"], padding=True)

    class Wrapped(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.st = st

        def forward(self, *tensors: Any) -> Any:
            return self.st(dict(zip(inputs, tensors, strict=True)))["sentence_embedding"]

    args = tuple(torch.tensor(sample[n]) for n in inputs)
    raw = out / "raw.onnx"
    axes = {n: {0: "batch", 1: "sequence"} for n in inputs}
    # The tracer warns about Python branches it fixes as constants (padding checks that
    # hold for every input shape here); a user's first start should not print a page.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Wrapped(),
            args,
            str(raw),
            input_names=list(inputs),
            output_names=["sentence_embedding"],
            dynamic_axes={**axes, "sentence_embedding": {0: "batch"}},
            opset_version=17,
            dynamo=False,  # the TorchScript exporter needs no onnxscript
        )
    fused = out / "fused.onnx"
    _optimize(raw, fused, st)
    raw.unlink()
    if quantize:
        from onnx import TensorProto
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(
            str(fused),
            str(out / MODEL_FILE),
            per_channel=True,
            weight_type=QuantType.QInt8,
            # Fused ops come from onnxruntime's own domain, whose outputs shape inference
            # cannot type; they are float.
            extra_options={"DefaultTensorType": TensorProto.FLOAT},
        )
        fused.unlink()
    else:
        fused.rename(out / MODEL_FILE)
    tokenizer.backend_tokenizer.save(str(out / "tokenizer.json"))
    meta = {
        "recipe": RECIPE,
        "inputs": inputs,
        "max_seq_length": int(st.max_seq_length or 512),
        "dimension": int(_dimension(st)),
        "unk_id": tokenizer.unk_token_id,
        "pad_id": tokenizer.pad_token_id or 0,
        "quantized": quantize,
    }
    (out / META_FILE).write_text(json.dumps(meta, indent=2))


def _optimize(src: Path, dst: Path, st: Any) -> None:
    """Fuse what onnxruntime's BERT optimizer recognises; any other graph passes unchanged."""
    from onnxruntime.transformers.optimizer import optimize_model

    config = getattr(st[0], "auto_model", None)
    config = getattr(config, "config", None)
    heads = int(getattr(config, "num_attention_heads", 0) or 0)
    hidden = int(getattr(config, "hidden_size", 0) or 0)
    try:
        model = optimize_model(
            str(src), model_type="bert", num_heads=heads, hidden_size=hidden, opt_level=1
        )
        model.save_model_to_file(str(dst))
    except Exception as exc:  # an unfamiliar architecture: run it unfused rather than fail
        log.warning("ONNX graph fusion skipped (%s); the export runs unfused", exc)
        shutil.copyfile(src, dst)


def _dimension(st: Any) -> int:
    getter = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension
    return int(getter())
