"""Rebuilding the index for a running server, in a child process.

The build loads PyTorch, exports and quantises the ONNX encoder and embeds the corpus: done in
the server process, it raised the server's memory from about 310 MB to 2.15 GB for good. A
child process gives all of it back to the system when it exits; the server then only loads the
finished index, as at start-up.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable

from service.errors import CorpusError, DockfaqError
from service.settings import Settings

log = logging.getLogger(__name__)

# The child's exit status for a corpus that does not validate (the message is on stderr).
CORPUS_REFUSED = 3
# How often a build in a child process checks whether it is to stop.
POLL_S = 0.2
# How long a build told to stop may take to remove its temporary files.
STOP_S = 5.0

Cancelled = Callable[[], bool]


def build_in_child(settings: Settings, cancelled: Cancelled | None = None) -> None:
    """Build the index of ``settings`` in a child process; CorpusError if the corpus is
    broken (the old index is untouched then), DockfaqError for any other failure. The build
    is stopped, and DockfaqError raised, as soon as ``cancelled()`` is true (a supervisor
    told to stop during a reload's rebuild, which takes half a minute or more)."""
    env = {**os.environ, **_environment(settings)}
    child = subprocess.Popen(
        [sys.executable, "-c", "from service.rebuild import main; main()"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    while True:
        try:
            _, stderr = child.communicate(timeout=POLL_S)
            break
        except subprocess.TimeoutExpired:
            if cancelled is not None and cancelled():
                _stop(child)
                raise DockfaqError("the index build was stopped: the server is stopping") from None
    message = stderr.strip().splitlines()[-1] if stderr.strip() else ""
    if child.returncode == CORPUS_REFUSED:
        raise CorpusError(message)
    if child.returncode != 0:
        raise DockfaqError(f"the index build failed (exit {child.returncode}): {message}")


def _stop(child: subprocess.Popen[str]) -> None:
    """SIGTERM, so that the build removes its temporary files; SIGKILL if it has not ended
    within ``STOP_S`` (a long call into PyTorch or ONNX returns before Python sees a signal)."""
    child.terminate()
    try:
        child.communicate(timeout=STOP_S)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()


def _environment(settings: Settings) -> dict[str, str]:
    """``settings`` as the DOCKFAQ_* variables that rebuild them in the child."""
    env = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        text = "" if value is None else str(value).lower() if isinstance(value, bool) else value
        env[f"DOCKFAQ_{name.upper()}"] = str(text)
    return env


def main() -> None:
    """The child: build the index the DOCKFAQ_* variables describe."""
    from service import corpus, engine

    # SIGTERM (see _stop) unwinds the build, which removes its temporary directories.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        settings = Settings()
        corpus.load(settings.corpus_dir)  # a broken corpus is refused before the model loads
        engine.build(settings)
    except CorpusError as exc:
        print(exc, file=sys.stderr)
        sys.exit(CORPUS_REFUSED)
    except (DockfaqError, OSError, ValueError) as exc:
        print(exc, file=sys.stderr)
        sys.exit(1)


def bring_up_to_date(settings: Settings, cancelled: Cancelled | None = None) -> None:
    """Serve the index of this corpus and these settings: one built from another corpus (an
    upgraded image, an edited corpus) or for another encoder is rebuilt first, in a child
    process, and swapped in atomically. If that fails, the previous index serves and the log
    says why. (With no index at all, open_retriever builds one.)"""
    from service import engine

    if not engine.check_index(settings):
        return
    reason = engine.stale_reason(settings)
    if reason is None:
        return
    log.warning("rebuilding the index in %s before serving: %s", settings.index_dir, reason)
    try:
        build_in_child(settings, cancelled)
    except DockfaqError as exc:
        if cancelled is not None and cancelled():
            log.info("the rebuild was stopped: the server is stopping")
        else:
            log.error("the rebuild failed, the previous index serves: %s", exc)
        return
    log.info("index rebuilt from %s", settings.corpus_dir)


def prepare(settings: Settings, cancelled: Cancelled | None = None) -> None:
    """Before several workers start: build the index if there is none, and rebuild a stale
    one, so that the workers only load it (and do not build it N times at once)."""
    from service import engine

    if engine.check_index(settings):
        bring_up_to_date(settings, cancelled)
        return
    log.warning("no index in %s: building one from %s", settings.index_dir, settings.corpus_dir)
    build_in_child(settings, cancelled)
