"""`dockfaq serve --workers N`: N processes on one port, each with its own encoder and index.

uvicorn's supervisor starts the workers (``service.web.workers.worker_app`` in each), restarts
one that dies, and on SIGHUP replaces them one at a time, each new one serving only once its
index is loaded. Before starting them, and on SIGHUP, the supervisor brings the index up to
date with the corpus (a rebuild runs in a child process), so workers only ever load it.

Workers are forked, where uvicorn spawns a fresh interpreter: the supervisor has imported the
app and read the Chinese dictionary once (``preload``), so a new worker (at start-up, in a
reload, for one that died) only loads the index, and the workers share those pages. The
supervisor loads no model or index and runs no thread of its own before it forks.

Conversations, claims and feedback are shared through the store (SQLite or Redis); rate limits
need Redis (see ``cli._worker_count``); /metrics adds up every worker's counters
(prometheus_client's multiprocess mode, in a directory the supervisor makes and removes).
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import signal
import socket
import tempfile
from collections.abc import Callable
from types import FrameType

import uvicorn
from uvicorn._subprocess import subprocess_started
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess, multiprocess

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
        preload()  # after MULTIPROCESS_DIR: prometheus_client reads it when imported
        # uvicorn's Multiprocess makes every worker through this name (start, restart, reload).
        multiprocess.get_subprocess = _forked_worker  # type: ignore[attr-defined,assignment]
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


def preload() -> None:
    """What every worker needs before its index, done once in the supervisor, whose workers
    are forked from it: the app's modules (0.6 s), those that loading an index imports (0.2 s;
    importing them starts no thread), and jieba's dictionary (0.2 s, 100 MB)."""
    import bm25s  # noqa: F401
    import faiss  # noqa: F401
    import onnxruntime  # noqa: F401

    import service.web.workers  # noqa: F401  (the app, as worker_app imports it)
    from service import text

    text.tokenize("预加载")  # loads jieba and its dictionary
    # Out of the collector's sight: a worker's collections would otherwise walk (and so copy)
    # every page of these objects it shares with the supervisor.
    gc.freeze()


def _forked_worker(
    config: uvicorn.Config, target: Callable[..., None], sockets: list[socket.socket]
) -> multiprocessing.process.BaseProcess:
    """uvicorn's ``get_subprocess``, forking instead of spawning a fresh interpreter."""
    return multiprocessing.get_context("fork").Process(
        target=_worker_main, args=(config, target, sockets)
    )


def _worker_main(
    config: uvicorn.Config, target: Callable[..., None], sockets: list[socket.socket]
) -> None:
    # The supervisor's handlers only queue a signal for its own loop: a worker starts with
    # Python's defaults, as a spawned one did (uvicorn then takes SIGINT and SIGTERM).
    for signum in multiprocess.SIGNALS:
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    subprocess_started(config, target, sockets, stdin_fileno=None)


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
