"""Build, save and load the index directory: manifest, FAISS vectors, BM25, passages."""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from service import __version__, lexicon, text
from service.corpus import Passage
from service.embedding import ONNX_FILES, Embedder
from service.errors import IndexMismatch, IndexNotBuilt
from service.lexicon import Lexicon
from service.settings import HNSW_ABOVE

if TYPE_CHECKING:  # neither ships types: both read as Any
    import bm25s
    import faiss

# 2: the lexicons (inverted lists of words and exact terms) are stored, not rebuilt at start.
# 3: only English passages are embedded (see views()).
SCHEMA_VERSION = 3
MANIFEST = "manifest.json"
PASSAGES = "passages.jsonl"
VECTORS = "dense.faiss"
VECTOR_PASSAGES = "dense_passages.npy"
BM25_DIR = "bm25"
LEXICONS = ("lexicon-words", "lexicon-terms")
# Files a build writes; anything else in the index directory (its README) is carried over.
ARTIFACTS = (
    MANIFEST,
    PASSAGES,
    VECTORS,
    VECTOR_PASSAGES,
    BM25_DIR,
    *ONNX_FILES,
    *(f"{name}{suffix}" for name in LEXICONS for suffix in (".json", ".npz")),
)

Progress = Callable[[int], None]
# Above HNSW_ABOVE vectors (service/settings.py), exact (flat) search costs milliseconds per
# question: the vectors go into an HNSW graph instead (recall@10 against flat is measured in
# tests and bench/growth.py).
# Measured on the 100k-passage corpus of bench/growth.py (300 000 vectors of 32 000 clustered
# texts; docs/speed.md): M 32 / efConstruction 128 reached a recall@10 of 0.95 at efSearch 1024, and
# 64 / 256 reaches 0.99, for twice the build time (100 s) and 2 ms a question.
HNSW_M = 64
HNSW_EF_CONSTRUCTION = 256


@dataclass(frozen=True)
class Manifest:
    """What an index was built from and holds (manifest.json); checked before it is loaded."""

    schema_version: int
    index_version: str
    embedding_model: str
    dimension: int
    tokenizer: str  # text.signature() of the tokenizer that made the BM25 and lexicon tokens
    corpus_sha256: str
    entries: int
    passages: int
    vectors: int
    dense_index: str  # "flat" or "hnsw"
    encoder_precision: str = "float32"  # indexes from before int8 lack it
    built_at: str = ""
    package_version: str = ""
    encoder: str | None = None  # "onnx": the index carries the encoder that embedded it

    @classmethod
    def of(cls, raw: dict[str, Any]) -> Manifest:
        """The manifest in ``raw`` (a checked manifest.json); keys it does not know are kept
        out, as a later version may add some."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in names})


@dataclass
class Index:
    """Everything retrieval needs, in memory."""

    manifest: Manifest
    passages: list[Passage]
    tokens: list[list[str]]
    vectors: faiss.Index  # over L2-normalised vectors (inner product = cosine)
    vector_passages: np.ndarray  # vector row -> passage position
    bm25: bm25s.BM25  # over ``tokens``
    words: Lexicon  # entries by the words (``tokens``) of their passages
    terms: Lexicon  # entries by the exact terms and word 3-grams of their passages

    @property
    def version(self) -> str:
        return self.manifest.index_version


def views(passage: Passage) -> list[str]:
    """The texts embedded for a passage: its title, each question, and title + answer.

    Only English passages: the English model reads Chinese characters as [UNK], so Chinese views
    were near-identical noise vectors. Chinese questions reach the English views through the
    glossary instead. Measured on the real-question dev set: hit@1 for Chinese 0.615 -> 0.656,
    English unchanged, half the vectors to search.
    """
    if passage.language != "en":
        return []
    return [passage.title, *passage.questions, f"{passage.title}\n{passage.text}"]


def passage_tokens(passage: Passage, tags: tuple[str, ...] = ()) -> list[str]:
    return text.tokenize(" ".join([passage.title, *passage.questions, passage.text, *tags]))


def index_version(corpus_sha256: str, model: str, precision: str = "float32") -> str:
    key = f"{SCHEMA_VERSION}|{model}|{precision}|{text.signature()}|{corpus_sha256}".encode()
    return hashlib.sha256(key).hexdigest()[:12]


def build(
    passages: list[Passage],
    embedder: Embedder,
    corpus_sha256: str,
    tags: dict[str, tuple[str, ...]] | None = None,
    progress: Progress | None = None,
    batch_size: int = 64,
    hnsw_above: int = HNSW_ABOVE,
    precision: str = "float32",
) -> Index:
    """Embed and tokenise every passage; ``progress`` is told how many texts were embedded.

    ``precision``: of the embedder's weights, recorded in the manifest and the index version.
    """
    import bm25s

    texts: list[str] = []
    owners: list[int] = []
    for position, passage in enumerate(passages):
        for view in views(passage):
            texts.append(view)
            owners.append(position)
    # Each distinct text is embedded once (entries share questions, and titles repeat), in
    # batches of similar length: a batch is padded to its longest text, so a title batched
    # with answers would cost as much as an answer.
    distinct = sorted(dict.fromkeys(texts), key=len)
    unique = np.zeros((len(distinct), embedder.dimension), dtype=np.float32)
    for start in range(0, len(distinct), batch_size):
        chunk = distinct[start : start + batch_size]
        unique[start : start + len(chunk)] = embedder.encode(chunk)
        if progress:
            progress(len(chunk))
    row = {text_: i for i, text_ in enumerate(distinct)}
    matrix = unique[[row[t] for t in texts]] if texts else unique
    vectors = dense_index(matrix, hnsw_above)

    tags = tags or {}
    tokens = [passage_tokens(p, tags.get(p.entry_id, ())) for p in passages]
    bm25 = bm25s.BM25()
    bm25.index(tokens, show_progress=False)
    words, terms = lexicon.build(passages, tokens)

    manifest = Manifest(
        schema_version=SCHEMA_VERSION,
        index_version=index_version(corpus_sha256, embedder.name, precision),
        embedding_model=embedder.name,
        dimension=embedder.dimension,
        tokenizer=text.signature(),
        corpus_sha256=corpus_sha256,
        entries=len({p.entry_id for p in passages}),
        passages=len(passages),
        vectors=len(texts),
        dense_index="hnsw" if len(texts) > hnsw_above else "flat",
        encoder_precision=precision,
        built_at=datetime.now(UTC).isoformat(timespec="seconds"),
        package_version=__version__,
    )
    owned = np.asarray(owners, dtype=np.int32)
    return Index(manifest, passages, tokens, vectors, owned, bm25, words, terms)


def dense_index(matrix: np.ndarray, hnsw_above: int = HNSW_ABOVE) -> faiss.Index:
    """Inner-product search over L2-normalised rows: exact, or HNSW above ``hnsw_above`` rows."""
    import faiss

    dimension = matrix.shape[1]
    vectors: faiss.Index
    if len(matrix) > hnsw_above:
        vectors = faiss.IndexHNSWFlat(dimension, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        vectors.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    else:
        vectors = faiss.IndexFlatIP(dimension)
    vectors.add(matrix)
    return vectors


def save(index: Index, index_dir: Path, encoder: Path | None = None) -> None:
    """Write the index to a temporary directory beside ``index_dir``, then swap it into place.

    ``encoder``: the directory holding the exported encoder (ONNX_FILES) that made the
    vectors; it goes into the index too, and the server embeds questions with it.
    """
    import faiss

    index_dir = index_dir.resolve()
    index_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".index-build-", dir=index_dir.parent))
    try:
        with (staging / PASSAGES).open("w", encoding="utf-8") as out:
            for passage, tokens in zip(index.passages, index.tokens, strict=True):
                out.write(json.dumps({**asdict(passage), "tokens": tokens}, ensure_ascii=False))
                out.write("\n")
        faiss.write_index(index.vectors, str(staging / VECTORS))
        np.save(staging / VECTOR_PASSAGES, index.vector_passages)
        index.bm25.save(str(staging / BM25_DIR), show_progress=False)
        for name, items in zip(LEXICONS, (index.words, index.terms), strict=True):
            items.save(staging, name)
        if index_dir.is_dir():
            for keep in index_dir.iterdir():
                if keep.name not in ARTIFACTS and keep.is_file():
                    shutil.copy2(keep, staging / keep.name)
        if encoder is not None:
            for name in ONNX_FILES:
                shutil.copy2(encoder / name, staging / name)
        index.manifest = replace(index.manifest, encoder=None if encoder is None else "onnx")
        # The manifest goes last: a directory without one is never mistaken for an index.
        (staging / MANIFEST).write_text(json.dumps(asdict(index.manifest), indent=2) + "\n")
        _swap_into_place(staging, index_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _swap_into_place(staging: Path, target: Path) -> None:
    """Atomically exchange ``staging`` and ``target`` (renameat2 RENAME_EXCHANGE on Linux);
    afterwards ``staging`` holds the old index, which the caller removes."""
    staging.chmod(0o755)
    if not target.exists():
        os.rename(staging, target)
        staging.mkdir()
        return
    if _rename_exchange(staging, target):
        return
    # Fallback without RENAME_EXCHANGE: two renames, with a moment where target is absent.
    old = staging.with_name(staging.name + "-old")
    os.rename(target, old)
    os.rename(staging, target)
    os.rename(old, staging)


def _rename_exchange(a: Path, b: Path) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    result = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return bool(result == 0)


def read_manifest(index_dir: Path) -> dict[str, Any]:
    path = index_dir / MANIFEST
    if not path.is_file():
        raise IndexNotBuilt(f"no index in {index_dir}: run 'dockfaq build'")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise IndexNotBuilt(f"{path} is unreadable ({exc}): run 'dockfaq build'") from exc
    if not isinstance(manifest, dict):
        raise IndexNotBuilt(f"{path} is not a manifest: run 'dockfaq build'")
    return manifest


def check(manifest: dict[str, Any], model: str, index_dir: Path) -> None:
    """Refuse an index built with another schema or embedding model than the settings name."""
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise IndexMismatch(
            f"the index in {index_dir} has schema version {manifest.get('schema_version')}, "
            f"this dockfaq reads version {SCHEMA_VERSION}: run 'dockfaq build'"
        )
    if manifest.get("tokenizer") != text.signature():
        raise IndexMismatch(
            f"the index in {index_dir} was built with tokenizer {manifest.get('tokenizer')}, "
            f"this dockfaq tokenizes with {text.signature()}: run 'dockfaq build'"
        )
    if manifest.get("embedding_model") != model:
        raise IndexMismatch(
            f"the index in {index_dir} was built with embedding model "
            f"{manifest.get('embedding_model')!r} but DOCKFAQ_EMBEDDING_MODEL is {model!r}: "
            "run 'dockfaq build' or change the setting"
        )


def load(index_dir: Path, embedder: Embedder) -> Index:
    """Load the index in ``index_dir``, refusing one built for other settings."""
    import bm25s
    import faiss

    manifest = read_manifest(index_dir)
    check(manifest, embedder.name, index_dir)
    if manifest.get("dimension") != embedder.dimension:
        raise IndexMismatch(
            f"the index in {index_dir} has dimension {manifest.get('dimension')} but the "
            f"embedding model gives {embedder.dimension}: run 'dockfaq build'"
        )
    try:
        passages, tokens = _read_passages(index_dir / PASSAGES)
        vectors = faiss.read_index(str(index_dir / VECTORS))
        owners = np.load(index_dir / VECTOR_PASSAGES)
        bm25 = bm25s.BM25.load(str(index_dir / BM25_DIR), show_progress=False)
        words, terms = (Lexicon.load(index_dir, name) for name in LEXICONS)
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise IndexNotBuilt(
            f"the index in {index_dir} is incomplete ({exc}): run 'dockfaq build'"
        ) from exc
    entries = manifest.get("entries")
    if (
        len(passages) != manifest.get("passages")
        or vectors.ntotal != len(owners)
        or words.entries != entries
        or terms.entries != entries
    ):
        raise IndexNotBuilt(f"the index in {index_dir} is inconsistent: run 'dockfaq build'")
    return Index(Manifest.of(manifest), passages, tokens, vectors, owners, bm25, words, terms)


def _read_passages(path: Path) -> tuple[list[Passage], list[list[str]]]:
    passages, tokens = [], []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            tokens.append(record.pop("tokens"))
            record["questions"] = tuple(record["questions"])
            passages.append(Passage(**record))
    return passages, tokens


def stale_reason(
    corpus_dir: Path, index_dir: Path, model: str, precision: str | None = None
) -> str | None:
    """Why the index must be rebuilt for this corpus and model, or None when it is current.

    ``precision`` (see :func:`service.engine.precision`) is checked against an exported
    encoder only: a model that cannot export itself builds with its own precision, whatever
    is asked.
    """
    from service import corpus

    try:
        manifest = read_manifest(index_dir)
        check(manifest, model, index_dir)
    except (IndexNotBuilt, IndexMismatch) as exc:
        return str(exc)
    if manifest.get("corpus_sha256") != corpus.fingerprint(corpus_dir):
        return f"the corpus in {corpus_dir} changed since the index was built"
    built = manifest.get("encoder_precision", "float32")  # indexes from before int8 lack it
    if precision is not None and manifest.get("encoder") == "onnx" and built != precision:
        return (
            f"the index's encoder is {built} but the settings ask for {precision} (DOCKFAQ_ENCODER)"
        )
    return None
