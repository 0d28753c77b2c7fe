"""The index lifecycle: build it from the corpus, check it, load it into a Retriever. The CLI,
the server's start-up, /admin/reload and SIGHUP all go through here."""

from __future__ import annotations

import importlib.util
import logging
import tempfile
from pathlib import Path

from service import corpus, onnx_export, ranking, store
from service.batching import BatchingEmbedder
from service.embedding import (
    Embedder,
    OnnxEmbedder,
    SentenceTransformerEmbedder,
    onnx_available,
)
from service.errors import ConfigError, IndexNotBuilt
from service.retrieval import Fusion, Retriever
from service.settings import HNSW_ABOVE, EncoderKind, Settings

log = logging.getLogger(__name__)


def embedder(settings: Settings) -> Embedder:
    """The model that builds the index: the PyTorch model; where PyTorch is not installed (the
    container image leaves it out), the exported encoder the current index carries, when it is
    of the same model, embeds the new index (a rebuild keeps its encoder)."""
    if importlib.util.find_spec("sentence_transformers") is not None:
        return SentenceTransformerEmbedder(settings.embedding_model)
    if settings.exported_encoder and onnx_available(settings.index_dir):
        current = OnnxEmbedder(settings.index_dir)
        if (current.name, current.precision) == (settings.embedding_model, precision(settings)):
            return current
    raise ConfigError(
        f"building the index needs PyTorch and sentence-transformers, or an exported encoder of "
        f"{settings.embedding_model} in {settings.index_dir}; neither is here (install dockfaq "
        f"with its dependencies, e.g. `make run`, or build the index where they are)"
    )


def build(
    settings: Settings, model: Embedder | None = None, progress: store.Progress | None = None
) -> store.Index:
    """Build the index the settings describe from their corpus and swap it into place."""
    return build_index(
        settings.corpus_dir,
        settings.index_dir,
        model or embedder(settings),
        progress,
        hnsw_above=settings.hnsw_above,
        encoder=settings.encoder,
    )


def build_index(
    corpus_dir: Path,
    index_dir: Path,
    model: Embedder,
    progress: store.Progress | None = None,
    hnsw_above: int = HNSW_ABOVE,
    encoder: EncoderKind = "int8",
) -> store.Index:
    """Load and validate the corpus, embed its passages, and swap the new index into place.

    ``encoder``: "int8" or "float32" embed with ``model`` exported to ONNX (quantised for
    int8) and keep that encoder in the index, for the server to embed questions with;
    "torch" embeds with ``model`` itself. A corpus error raises before anything is written,
    so the previous index stays untouched.
    """
    entries = corpus.load(corpus_dir)
    passages = corpus.passages(entries)
    with tempfile.TemporaryDirectory(prefix="dockfaq-encoder-") as workdir:
        if encoder == "torch":
            prepared = onnx_export.Encoder(model)
        else:
            calibration = onnx_export.calibration_texts(passages) if encoder == "int8" else None
            prepared = onnx_export.prepare(model, Path(workdir), calibration)
        index = store.build(
            passages,
            prepared.model,
            corpus.fingerprint(corpus_dir),
            precision=prepared.precision,
            tags={e.id: e.tags for e in entries},
            progress=progress,
            hnsw_above=hnsw_above,
        )
        store.save(index, index_dir, prepared.directory)
    return index


def precision(settings: Settings) -> str:
    """The precision of the encoder that `dockfaq build` makes with these settings."""
    exported = settings.exported_encoder and importlib.util.find_spec("onnxruntime") is not None
    return "int8" if exported and settings.quantized_encoder else "float32"


def reopen(settings: Settings, current: Retriever) -> Retriever:
    """The freshly built index, loaded with the model ``current`` already holds (a reload)."""
    model = current.embedder
    return Retriever(store.load(settings.index_dir, model), model, cache_size=settings.cache_size)


def stale_reason(settings: Settings) -> str | None:
    """Why the index must be built again for these settings (none yet, another corpus, model
    or encoder precision), or None when it is current."""
    return store.stale_reason(
        settings.corpus_dir, settings.index_dir, settings.embedding_model, precision(settings)
    )


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


def open_retriever(
    settings: Settings,
    model: Embedder | None = None,
    serving: bool = False,
    ranker: ranking.Model | None = None,
    fusion: Fusion = "weighted",
) -> Retriever:
    """Load the index (building it first when none exists) and return a Retriever.

    ``serving``: concurrent questions are embedded in micro-batches and query vectors cached.
    ``fusion``: "rrf" only to compare with the fitted ranking (`dockfaq eval --fusion rrf`).
    """
    if not check_index(settings):
        model = model or embedder(settings)
        log.warning("no index in %s: building one from %s", settings.index_dir, settings.corpus_dir)
        build(settings, model)
    cache_size = 0
    if settings.exported_encoder and onnx_available(settings.index_dir):
        # The index's exported encoder made its vectors: questions are embedded with the same
        # weights, faster, and PyTorch never loads.
        model = OnnxEmbedder(settings.index_dir)
    if serving:
        import faiss

        # One question is a tiny search: FAISS's OpenMP threads would only spin against the
        # encoder's threads and the other requests for the two cores.
        faiss.omp_set_num_threads(1)
        model = BatchingEmbedder(
            model or embedder(settings), settings.batch_max, settings.batch_wait_ms
        )
        cache_size = settings.cache_size
    model = model or embedder(settings)
    retriever = Retriever(store.load(settings.index_dir, model), model, fusion, cache_size, ranker)
    if serving:
        retriever.warm_up()
    return retriever
