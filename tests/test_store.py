from __future__ import annotations

import json
from pathlib import Path

import pytest

from service import engine, store
from service.errors import CorpusError, IndexMismatch, IndexNotBuilt
from tests.conftest import FakeEmbedder, entry_text, write_entry


def _corpus(tmp_path: Path) -> Path:
    corpus_dir = tmp_path / "corpus"
    write_entry(
        corpus_dir,
        id="save-images",
        topic="save-load-export-import",
        title_en="Save images",
        answer_en="Use docker save to write images to a tar.",
    )
    write_entry(
        corpus_dir,
        id="run-non-root",
        topic="non-root",
        title_en="Run as non-root",
        answer_en="Add a USER instruction.",
    )
    return corpus_dir


def test_build_save_load_round_trip(tmp_path: Path) -> None:
    corpus_dir, index_dir, embedder = _corpus(tmp_path), tmp_path / "index", FakeEmbedder()
    built = engine.build_index(corpus_dir, index_dir, embedder)
    loaded = store.load(index_dir, embedder)
    assert loaded.manifest == built.manifest
    assert loaded.passages == built.passages
    assert loaded.tokens == built.tokens
    assert loaded.vectors.ntotal == built.vectors.ntotal == len(loaded.vector_passages)
    manifest = json.loads((index_dir / "manifest.json").read_text())
    assert manifest["entries"] == 2 and manifest["passages"] == 4
    assert manifest["embedding_model"] == "fake-hash" and manifest["dimension"] == 256
    assert (
        len(manifest["corpus_sha256"]) == 64 and manifest["schema_version"] == store.SCHEMA_VERSION
    )
    assert {"built_at", "package_version", "index_version", "vectors"} <= set(manifest)


def test_a_manifest_from_a_later_version_still_loads(tmp_path: Path) -> None:
    corpus_dir, index_dir, embedder = _corpus(tmp_path), tmp_path / "index", FakeEmbedder()
    built = engine.build_index(corpus_dir, index_dir, embedder)
    path = index_dir / "manifest.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "added_later": [1, 2]}))
    loaded = store.load(index_dir, embedder)
    assert loaded.manifest == built.manifest and loaded.version == built.version


def test_load_refuses_other_model(tmp_path: Path) -> None:
    engine.build_index(_corpus(tmp_path), tmp_path / "index", FakeEmbedder())
    other = FakeEmbedder()
    other.name = "another-model"
    with pytest.raises(IndexMismatch, match="another-model"):
        store.load(tmp_path / "index", other)


def test_load_refuses_other_dimension(tmp_path: Path) -> None:
    engine.build_index(_corpus(tmp_path), tmp_path / "index", FakeEmbedder())
    other = FakeEmbedder()
    other.dimension = 32
    with pytest.raises(IndexMismatch, match="dimension"):
        store.load(tmp_path / "index", other)


def test_missing_and_incomplete_index(tmp_path: Path) -> None:
    with pytest.raises(IndexNotBuilt, match="dockfaq build"):
        store.load(tmp_path / "index", FakeEmbedder())
    engine.build_index(_corpus(tmp_path), tmp_path / "index", FakeEmbedder())
    (tmp_path / "index" / "dense.faiss").unlink()
    with pytest.raises(IndexNotBuilt, match="incomplete"):
        store.load(tmp_path / "index", FakeEmbedder())


def test_rebuild_swaps_in_place_and_keeps_readme(tmp_path: Path) -> None:
    corpus_dir, index_dir = _corpus(tmp_path), tmp_path / "index"
    index_dir.mkdir()
    (index_dir / "README.md").write_text("what goes here")
    first = engine.build_index(corpus_dir, index_dir, FakeEmbedder())
    write_entry(corpus_dir, id="third-entry", topic="base-image")
    second = engine.build_index(corpus_dir, index_dir, FakeEmbedder())
    assert first.version != second.version
    assert store.load(index_dir, FakeEmbedder()).version == second.version
    assert (index_dir / "README.md").read_text() == "what goes here"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus", "index"]  # no leftovers


def test_broken_corpus_leaves_previous_index_untouched(tmp_path: Path) -> None:
    corpus_dir, index_dir = _corpus(tmp_path), tmp_path / "index"
    engine.build_index(corpus_dir, index_dir, FakeEmbedder())
    before = {p.name: p.read_bytes() for p in index_dir.iterdir() if p.is_file()}
    broken = corpus_dir / "non-root" / "run-non-root.md"
    broken.write_text(
        entry_text(id="run-non-root", topic="non-root").replace("---\n", "---\n: :\n", 1)
    )
    with pytest.raises(CorpusError, match=r"run-non-root\.md"):
        engine.build_index(corpus_dir, index_dir, FakeEmbedder())
    assert {p.name: p.read_bytes() for p in index_dir.iterdir() if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus", "index"]


def test_stale_reason(tmp_path: Path) -> None:
    corpus_dir, index_dir = _corpus(tmp_path), tmp_path / "index"
    assert "no index" in (store.stale_reason(corpus_dir, index_dir, "fake-hash") or "")
    engine.build_index(corpus_dir, index_dir, FakeEmbedder())
    assert store.stale_reason(corpus_dir, index_dir, "fake-hash") is None
    assert "embedding model" in (store.stale_reason(corpus_dir, index_dir, "other") or "")
    # The fake model cannot export itself: it builds in float whatever the settings ask.
    assert store.stale_reason(corpus_dir, index_dir, "fake-hash", "int8") is None
    # An exported encoder is rebuilt when its precision is not the one asked for, or unknown
    # (an index made before int8 encoders records none).
    manifest_path = index_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps({**manifest, "encoder": "onnx"}))
    assert store.stale_reason(corpus_dir, index_dir, "fake-hash", "float32") is None
    reason = store.stale_reason(corpus_dir, index_dir, "fake-hash", "int8") or ""
    assert "encoder is float32 but the settings ask for int8" in reason
    del manifest["encoder_precision"]
    manifest_path.write_text(json.dumps({**manifest, "encoder": "onnx"}))
    assert "encoder is float32" in (
        store.stale_reason(corpus_dir, index_dir, "fake-hash", "int8") or ""
    )
    write_entry(corpus_dir, id="third-entry", topic="base-image")
    assert "changed" in (store.stale_reason(corpus_dir, index_dir, "fake-hash") or "")


def test_load_refuses_index_from_another_tokenizer(tmp_path: Path) -> None:
    engine.build_index(_corpus(tmp_path), tmp_path / "index", FakeEmbedder())
    manifest_path = tmp_path / "index" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["tokenizer"] = "0-old"
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatch, match="tokenizer"):
        store.load(tmp_path / "index", FakeEmbedder())
    assert "tokenizer" in (
        store.stale_reason(tmp_path / "corpus", tmp_path / "index", "fake-hash") or ""
    )
