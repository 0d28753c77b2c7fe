"""The Prometheus metrics of one app, and the collector that reads the embedder's batching."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector


class Metrics:
    """The Prometheus metrics of one app (its own registry, so tests can build many apps)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "dockfaq_http_requests_total",
            "HTTP requests",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "dockfaq_http_request_seconds",
            "HTTP request latency",
            ["route", "method"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.answers = Counter(
            "dockfaq_answers_total",
            "Questions answered or refused",
            ["outcome"],
            registry=self.registry,
        )
        self.index = Gauge(
            "dockfaq_index_info",
            "The loaded index (value 1)",
            ["index_version"],
            registry=self.registry,
        )
        self.entries = Gauge(
            "dockfaq_index_entries", "Entries in the loaded index", registry=self.registry
        )
        self.cache = Counter(
            "dockfaq_cache_lookups_total",
            "Answer and query-vector cache lookups",
            ["cache", "result"],
            registry=self.registry,
        )
        self.channel_events = Counter(
            "dockfaq_channel_events_total",
            "Chat platform requests by outcome (answered, duplicate, ignored, rejected)",
            ["platform", "outcome"],
            registry=self.registry,
        )
        self.channel_posts = Counter(
            "dockfaq_channel_posts_total",
            "Calls to chat platform APIs by outcome (ok, failed)",
            ["platform", "outcome"],
            registry=self.registry,
        )

    def cache_recorder(self, cache: str) -> Callable[[bool], None]:
        hit, miss = self.cache.labels(cache, "hit"), self.cache.labels(cache, "miss")
        return lambda found: (hit if found else miss).inc()

    def watch_embedder(self, source: Callable[[], object]) -> None:
        """Expose the micro-batcher's model calls and texts (their ratio is the batch size)."""
        self.registry.register(_BatchingCollector(source))


class _BatchingCollector(Collector):
    def __init__(self, source: Callable[[], object]) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        embedder = self.source()
        yield CounterMetricFamily(
            "dockfaq_embedding_batches",
            "Model calls made to embed questions",
            value=getattr(embedder, "batches", 0),
        )
        yield CounterMetricFamily(
            "dockfaq_embedding_texts",
            "Questions embedded by those calls",
            value=getattr(embedder, "texts", 0),
        )
