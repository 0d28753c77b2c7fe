"""Wiring of the heavy objects (model, index) into a Retriever, shared by the CLI and the server."""

from __future__ import annotations

import logging

from service import store
from service.embedding import Embedder, SentenceTransformerEmbedder
from service.errors import IndexNotBuilt
from service.retrieval import Retriever
from service.settings import Settings

log = logging.getLogger(__name__)


def embedder(settings: Settings) -> Embedder:
    return SentenceTransformerEmbedder(settings.embedding_model)


def check_index(settings: Settings) -> bool:
    """Cheap start-up check (no model load): False when no index exists yet.

    Raises IndexMismatch for an index built with other settings.
    """
    try:
        manifest = store.read_manifest(settings.index_dir)
    except IndexNotBuilt:
        return False
    store.check(manifest, settings.embedding_model, settings.index_dir)
    return True


def open_retriever(settings: Settings, model: Embedder | None = None) -> Retriever:
    """Load the index (building it first when none exists) and return a Retriever."""
    model = model or embedder(settings)
    if not check_index(settings):
        log.warning("no index in %s: building one from %s", settings.index_dir, settings.corpus_dir)
        store.build_from_corpus(settings.corpus_dir, settings.index_dir, model)
    return Retriever(store.load(settings.index_dir, model), model, settings.fusion)
