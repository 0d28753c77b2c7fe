from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.retrieval import Retriever
from service.settings import Settings
from service.web import create_app


@pytest.fixture
def settings(tmp_path: Path, fake_index_dir: Path) -> Settings:
    return Settings(
        index_dir=fake_index_dir,
        data_dir=tmp_path / "data",
        embedding_model="fake-hash",
        confidence_threshold=0.3,
    )


@pytest.fixture
def client(settings: Settings, fake_retriever: Retriever) -> Iterator[TestClient]:
    with TestClient(create_app(settings, retriever=fake_retriever)) as client:
        yield client
