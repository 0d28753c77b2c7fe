"""The Prometheus metrics of one app; with several worker processes, of all of them."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess

from service.supervisor import MULTIPROCESS_DIR  # set for `dockfaq serve --workers N`


class Metrics:
    """The Prometheus metrics of one app (its own registry, so tests can build many apps)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.multiprocess = bool(os.environ.get(MULTIPROCESS_DIR))
        own: CollectorRegistry | None = self.registry
        if self.multiprocess:
            # The values live in files; /metrics reads every worker's, not this one's objects.
            multiprocess.MultiProcessCollector(self.registry)  # type: ignore[no-untyped-call]
            own = None
        self.requests = Counter(
            "dockfaq_http_requests_total",
            "HTTP requests",
            ["route", "method", "status"],
            registry=own,
        )
        self.latency = Histogram(
            "dockfaq_http_request_seconds",
            "HTTP request latency",
            ["route", "method"],
            registry=own,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.answers = Counter(
            "dockfaq_answers_total", "Questions answered or refused", ["outcome"], registry=own
        )
        # Across workers: the highest value any live worker reports.
        self.index = Gauge(
            "dockfaq_index_info",
            "The loaded index (value 1)",
            ["index_version"],
            registry=own,
            multiprocess_mode="livemax",
        )
        self.entries = Gauge(
            "dockfaq_index_entries",
            "Entries in the loaded index",
            registry=own,
            multiprocess_mode="livemax",
        )
        self.memory = Gauge(
            "dockfaq_process_resident_bytes",
            "Resident memory of the serving process (per worker: the pid label)",
            registry=own,
            multiprocess_mode="liveall",
        )
        self.cache = Counter(
            "dockfaq_cache_lookups_total",
            "Answer and query-vector cache lookups",
            ["cache", "result"],
            registry=own,
        )
        self.embedding_batches = Counter(
            "dockfaq_embedding_batches", "Model calls made to embed questions", registry=own
        )
        self.embedding_texts = Counter(
            "dockfaq_embedding_texts", "Questions embedded by those calls", registry=own
        )
        self.channel_events = Counter(
            "dockfaq_channel_events_total",
            "Chat platform requests by outcome (answered, duplicate, ignored, rejected)",
            ["platform", "outcome"],
            registry=own,
        )
        self.channel_posts = Counter(
            "dockfaq_channel_posts_total",
            "Calls to chat platform APIs by outcome (ok, failed)",
            ["platform", "outcome"],
            registry=own,
        )

    def cache_recorder(self, cache: str) -> Callable[[bool], None]:
        hit, miss = self.cache.labels(cache, "hit"), self.cache.labels(cache, "miss")
        return lambda found: (hit if found else miss).inc()

    def batch_recorder(self) -> Callable[[int], None]:
        """For the micro-batcher: one model call that embedded ``n`` questions."""
        batches, texts = self.embedding_batches, self.embedding_texts

        def record(n: int) -> None:
            batches.inc()
            texts.inc(n)

        return record

    def measure_memory(self) -> None:
        self.memory.set(resident_bytes())

    def process_exited(self) -> None:
        """A worker's live gauges (index, memory) leave the totals with it."""
        if self.multiprocess:
            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def resident_bytes() -> int:
    """This process's resident set, from /proc (0 where there is no /proc)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")
