"""One worker of `dockfaq serve --workers N` (the supervisor is service/supervisor.py)."""

from __future__ import annotations

import asyncio
import ctypes
import multiprocessing
import os
import signal

from fastapi import FastAPI

from service.logs import configure_logging
from service.settings import Settings
from service.web import create_app, protocol

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def worker_app() -> FastAPI:
    """One worker: uvicorn imports this by name and calls it in each worker process. Settings
    come from the environment, as they did for the supervisor."""
    _exit_with_the_supervisor()
    configure_logging()
    settings = Settings()
    protocol.GuardedHttpToolsProtocol.max_header_bytes = settings.max_header_bytes
    protocol.GuardedHttpToolsProtocol.header_timeout = settings.header_timeout
    return create_app(settings, worker=True)


def forward_sighup_to_supervisor() -> None:
    """SIGHUP to a worker reaches the supervisor, which reloads them all."""
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, os.kill, os.getppid(), signal.SIGHUP)


def _exit_with_the_supervisor() -> None:
    """A supervisor killed with SIGKILL (the OOM killer) would leave its workers holding the
    port and the database: on Linux they get SIGTERM when it dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux
        return
    parent = multiprocessing.parent_process()
    if parent is not None and parent.pid != os.getppid():  # it died before prctl
        os.kill(os.getpid(), signal.SIGTERM)
