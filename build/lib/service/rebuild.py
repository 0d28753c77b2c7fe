"""Rebuilding the index for a running server, in a child process.

The build loads PyTorch, exports and quantises the ONNX encoder and embeds the corpus: done in
the server process, it raised the server's memory from about 310 MB to 2.15 GB for good. A
child process gives all of it back to the system when it exits; the server then only loads the
finished index, as at start-up.
"""

from __future__ import annotations

import os
import subprocess
import sys

from service.errors import CorpusError, DockfaqError
from service.settings import Settings

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
