"""Micro-batching: questions that arrive together are embedded in one model call."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

import numpy as np

from service.embedding import Embedder


class BatchingEmbedder:
    """Embeds concurrent requests together: one worker thread owns the model's hot path.

    Callers (request threads) queue their texts and wait. The worker takes the first waiting
    request; when others are already waiting it gathers them too, and waits up to
    ``max_wait_ms`` for more, up to ``max_batch`` texts. A request alone is embedded at once.
    Large calls (index builds) bypass the queue.
    """

    def __init__(self, inner: Embedder, max_batch: int, max_wait_ms: float) -> None:
        self.inner = inner
        self.name = inner.name
        self.dimension = inner.dimension
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self.batches = 0  # how many model calls the worker made
        self.texts = 0  # how many texts they embedded
        self.record: Callable[[int], None] | None = None  # told each call's number of texts
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
            if self.record is not None:
                self.record(len(texts))
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


# The exported encoder, kept in the index directory beside the vectors it must reproduce.
