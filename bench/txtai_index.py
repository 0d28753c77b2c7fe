"""Build and save the txtai baseline index. Runs inside the txtai virtualenv, not dockfaq's.

    txtai-venv/bin/python bench/txtai_index.py --passages passages.jsonl \
        --config embeddings.yaml --output index-dir

``passages.jsonl`` holds one ``{"id", "text", "entry_id", "title", "language"}`` object per
line (written by bench/run.py); ``embeddings.yaml`` is the ``embeddings:`` section of the API
configuration, so that the index is built with exactly the settings the API serves.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

# Offline on purpose: the model is a local directory and nothing may come from a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=Path, required=True)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()

    import yaml
    from txtai import Embeddings

    config: dict[str, Any] = yaml.safe_load(args.config.read_text())["embeddings"]
    with args.passages.open(encoding="utf-8") as lines:
        documents = [json.loads(line) for line in lines if line.strip()]
    started = time.perf_counter()
    embeddings = Embeddings(config)
    # With content enabled, dicts are indexed on their "text" field and every other field is
    # stored alongside, so search results carry the entry id and title.
    embeddings.index(documents)
    embeddings.save(str(args.output))
    print(
        f"txtai index: {embeddings.count()} documents in {time.perf_counter() - started:.1f}s "
        f"-> {args.output}"
    )


if __name__ == "__main__":
    main()
