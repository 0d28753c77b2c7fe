"""Rebuilding the index for a running server, in a child process.

The build loads PyTorch, exports and quantises the ONNX encoder and embeds the corpus: done in
the server process, it raised the server's memory from about 310 MB to 2.15 GB for good. A
child process gives all of it back to the system when it exits; the server then only loads the
finished index, as at start-up.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys

from service.errors import CorpusError, DockfaqError
from service.settings import Settings

log = logging.getLogger(__name__)

# The child's exit status for a corpus that does not validate (the message is on stderr).
CORPUS_REFUSED = 3


def build_in_child(settings: Settings) -> None:
    """Build the index of ``settings`` in a child process; CorpusError if the corpus is
    broken (the old index is untouched then), DockfaqError for any other failure."""
    env = {**os.environ, **_environment(settings)}
    done = subprocess.run(
        [sys.executable, "-c", "from service.rebuild import main; main()"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    message = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
    if done.returncode == CORPUS_REFUSED:
        raise CorpusError(message)
    if done.returncode != 0:
        raise DockfaqError(f"the index build failed (exit {done.returncode}): {message}")


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


def bring_up_to_date(settings: Settings) -> None:
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
        build_in_child(settings)
    except DockfaqError as exc:
        log.error("the rebuild failed, the previous index serves: %s", exc)
        return
    log.info("index rebuilt from %s", settings.corpus_dir)


def prepare(settings: Settings) -> None:
    """Before several workers start: build the index if there is none, and rebuild a stale
    one, so that the workers only load it (and do not build it N times at once)."""
    from service import engine

    if engine.check_index(settings):
        bring_up_to_date(settings)
        return
    log.warning("no index in %s: building one from %s", settings.index_dir, settings.corpus_dir)
    build_in_child(settings)
