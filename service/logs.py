"""JSON log lines on stderr, written in batches."""

from __future__ import annotations

import atexit
import json
import logging
import threading
import time
from typing import Any, TextIO


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, and the message or the logged dict."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        if isinstance(record.msg, dict):
            line.update(record.msg)
        else:
            line["message"] = record.getMessage()
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure_logging(level: int = logging.INFO) -> None:
    """JSON lines on stderr for dockfaq's own loggers and uvicorn's.

    Lines are flushed at least every half second, not one write per request.
    """
    handler = _BatchedStream()
    handler.setFormatter(JsonFormatter())
    for name in ("dockfaq", "service", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(level)
        logger.propagate = False


class _BatchedStream(logging.StreamHandler[TextIO]):
    """A StreamHandler that leaves flushing to a timer: one system call per batch of lines
    instead of one per request. Errors and worse are flushed at once."""

    INTERVAL = 0.5

    def __init__(self) -> None:
        super().__init__()
        self._pending = False
        lock = self.lock  # Handler.__init__ made it; the base class flushes under it too
        assert lock is not None
        self._write_lock = lock
        flusher = threading.Thread(target=self._flush_often, name="log-flush", daemon=True)
        flusher.start()
        atexit.register(self.flush)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
            with self._write_lock:
                self.stream.write(line)
                self._pending = True
            if record.levelno >= logging.ERROR:
                self.flush()
        except Exception:
            self.handleError(record)

    def flush(self) -> None:
        if self._pending:
            self._pending = False
            super().flush()

    def _flush_often(self) -> None:
        while True:
            time.sleep(self.INTERVAL)
            self.flush()
