"""A small closed-loop HTTP load generator: N workers, a fixed duration, latency percentiles.

Every worker sends one request, waits for the answer, and sends the next, for ``warmup`` seconds
(not recorded) and then ``duration`` seconds (recorded). Questions come from one shared
:class:`Questions` cursor, so concurrent requests ask different questions and a question comes
back only after every other one was asked.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
import numpy as np


@dataclass(frozen=True)
class Request:
    """One HTTP request: POST with a JSON body, or GET with query parameters."""

    method: str
    path: str
    json: dict[str, Any] | None = None
    params: dict[str, str | int] | None = None


RequestBuilder = Callable[[str], Request]


def post_json(path: str, field_name: str) -> RequestBuilder:
    """POST ``{field_name: question}`` to ``path``."""
    return lambda question: Request("POST", path, json={field_name: question})


def get_params(path: str, field_name: str, **extra: str | int) -> RequestBuilder:
    """GET ``path?field_name=question&extra...``."""
    return lambda question: Request("GET", path, params={field_name: question, **extra})


class Questions:
    """Hands out questions in order, one shared cursor for all workers (and, when the same object
    is reused, for all runs against one server).

    After a full pass, a question comes back as it was (``vary=False``: what a cache should
    catch) or with ``" ?"``, ``" ??"``, ... appended for the 2nd, 3rd ... pass (``vary=True``):
    the same question for the retriever, a new text for a cache keyed on it.
    """

    def __init__(self, questions: list[str], vary: bool = False) -> None:
        self.questions = list(dict.fromkeys(questions))  # distinct, in order
        if not self.questions:
            raise ValueError("no questions to ask")
        self.vary = vary
        self.cursor = 0

    def next(self) -> tuple[str, bool]:
        """The next question, and whether its text (before variation) was asked before."""
        n = len(self.questions)
        position, self.cursor = self.cursor, self.cursor + 1
        question, passes = self.questions[position % n], position // n
        if self.vary and passes:
            question = f"{question} {'?' * passes}"
        return question, passes > 0


@dataclass
class LoadResult:
    """What one load run measured; latencies in milliseconds."""

    concurrency: int
    duration_s: float  # the measured window: from its start until the last recorded answer
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    asked: int  # requests sent, warm-up included
    repeats: int  # recorded requests whose question had been asked before (maybe varied)
    error_samples: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Tally:
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests only
    errors: int = 0
    repeats: int = 0
    error_samples: list[str] = field(default_factory=list)
    last_done: float = 0.0

    def error(self, message: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(message[:300])


async def run_load(
    base_url: str,
    build: RequestBuilder,
    questions: Questions,
    concurrency: int,
    duration: float,
    warmup: float = 2.0,
    timeout: float = 60.0,
) -> LoadResult:
    """Run ``concurrency`` workers against ``base_url`` and summarise the recorded window.

    A request counts when it started inside the window; an error is a non-2xx status or a
    transport failure (connection refused, reset, timeout).
    """
    if concurrency < 1 or duration <= 0:
        raise ValueError("concurrency must be >= 1 and duration > 0")
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    tally = _Tally()
    asked = 0
    start = time.perf_counter()
    window_start = start + warmup
    window_end = window_start + duration

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal asked
        while True:
            sent = time.perf_counter()
            if sent >= window_end:
                return
            question, repeat = questions.next()  # no await inside: safe in one event loop
            asked += 1
            request = build(question)
            recorded = sent >= window_start
            if recorded and repeat:
                tally.repeats += 1
            try:
                response = await client.request(
                    request.method, request.path, json=request.json, params=request.params
                )
                await response.aread()
            except httpx.HTTPError as exc:
                if recorded:
                    tally.error(f"{type(exc).__name__}: {exc}")
                    tally.last_done = time.perf_counter()
                continue
            done = time.perf_counter()
            if not recorded:
                continue
            tally.last_done = done
            if response.is_success:
                tally.latencies.append(done - sent)
            else:
                tally.error(f"HTTP {response.status_code}: {response.text}")

    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))

    elapsed = max(tally.last_done, window_end) - window_start
    count = len(tally.latencies) + tally.errors
    ms = np.asarray(tally.latencies, dtype=np.float64) * 1000.0
    p50, p95, p99 = (float(v) for v in np.percentile(ms, [50, 95, 99])) if ms.size else (0, 0, 0)
    return LoadResult(
        concurrency=concurrency,
        duration_s=round(elapsed, 3),
        requests=count,
        errors=tally.errors,
        rps=round(len(tally.latencies) / elapsed, 2),
        p50_ms=round(p50, 2),
        p95_ms=round(p95, 2),
        p99_ms=round(p99, 2),
        mean_ms=round(float(ms.mean()), 2) if ms.size else 0.0,
        asked=asked,
        repeats=tally.repeats,
        error_samples=tally.error_samples,
    )
