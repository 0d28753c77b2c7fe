"""`dockfaq serve --workers N`: N processes on one port, each with its own encoder and index.

uvicorn's supervisor starts the workers (``service.web.workers.worker_app`` in each), restarts
one that dies, and on SIGHUP replaces them one at a time, each new one serving only once its
index is loaded. Before starting them, and on SIGHUP, the supervisor brings the index up to
date with the corpus (a rebuild runs in a child process), so workers only ever load it.
Conversations, claims and feedback are shared through the store (SQLite or Redis); rate limits
need Redis (see ``cli._worker_count``); /metrics adds up every worker's counters
(prometheus_client's multiprocess mode, in a directory the supervisor makes and removes).

The supervisor imports neither the app nor the model: it starts in a third of a second.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import tempfile
from collections.abc import Callable
from types import FrameType

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from service import rebuild
from service.errors import ConfigError, DockfaqError
from service.settings import Settings

log = logging.getLogger(__name__)

# prometheus_client's variable: each worker writes its values to files there, and any
# worker's /metrics adds up all of them.
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
# How long a new worker may take to load the index and be ready (start, SIGHUP, a reload); also
# how long the supervisor waits on a worker that does not answer its health check (uvicorn uses
# one setting for both). Loading takes 1-3 s here, 7 s for 100 000 passages (docs/speed.md).
READY_S = 20
# How long a replacement worker may take to be ready during a reload. A reload comes under
# load, and on a busy machine loading took longer than READY_S: uvicorn then gives up the
# replacement (the old workers serve the old index on, with one line in the log).
REPLACE_S = 120


def serve(settings: Settings, count: int, options: dict[str, object]) -> None:
    """Run ``count`` workers until SIGINT or SIGTERM; ``options`` are uvicorn's."""
    rebuild.prepare(settings)
    with tempfile.TemporaryDirectory(prefix="dockfaq-metrics-") as metrics:
        os.environ[MULTIPROCESS_DIR] = metrics  # the workers inherit it
        config = uvicorn.Config(
            "service.web.workers:worker_app",
            factory=True,
            workers=count,
            # By name: the class is pickled to each worker; worker_app sets its limits.
            http="service.web.protocol:GuardedHttpToolsProtocol",
            timeout_worker_healthcheck=READY_S,
            **options,  # type: ignore[arg-type]
        )
        listening = config.bind_socket()
        supervisor = Supervisor(
            config, listening, lambda cancelled: rebuild.prepare(settings, cancelled)
        )
        try:
            supervisor.run()
        finally:
            listening.close()
    if any(worker.exitcode == STARTUP_FAILURE for worker in supervisor.processes):
        raise ConfigError("a worker could not start (its log lines are above); none serves")


class Supervisor(Multiprocess):
    """uvicorn's supervisor, which brings the index up to date before it replaces the workers
    on SIGHUP (from `kill -HUP`, a worker's POST /admin/reload, or SIGHUP sent to a worker),
    gives each replacement ``REPLACE_S`` to be ready, and stops at once on SIGINT or SIGTERM,
    even in the middle of a reload (uvicorn would first finish it: a rebuild takes minutes on
    a busy machine, longer than `docker stop` waits)."""

    def __init__(
        self,
        config: uvicorn.Config,
        listening: socket.socket,
        refresh: Callable[[rebuild.Cancelled], None],
    ) -> None:
        super().__init__(config, sockets=[listening])
        self.refresh = refresh
        for stop in (signal.SIGINT, signal.SIGTERM):
            signal.signal(stop, self._stop)

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.signal_queue.append(signum)
        self.should_exit.set()  # ends a rebuild or a wait for a replacement, then the loop

    def handle_hup(self) -> None:
        try:
            self.refresh(self.should_exit.is_set)
        except DockfaqError as exc:
            log.error("no reload: the index could not be prepared: %s", exc)
            return
        # uvicorn waits timeout_worker_healthcheck for a replacement (and for a health check).
        self.config.timeout_worker_healthcheck = REPLACE_S
        try:
            super().handle_hup()
        finally:
            self.config.timeout_worker_healthcheck = READY_S
