"""GET /entries and /entries/{id}: browse the FAQ and open one entry, in both languages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query

from service.corpus import Topic
from service.retrieval import Retriever
from service.web.schemas import Bilingual, EntryDetail, EntryList, EntrySummary
from service.web.state import RetrieverDep

router = APIRouter(prefix="/entries", tags=["faq"])


@router.get("", response_model=EntryList)
def entries(retriever: RetrieverDep, topic: Annotated[Topic | None, Query()] = None) -> EntryList:
    """Every entry (of one topic, if given), in corpus order."""
    return EntryList(
        entries=[
            _summary(retriever, entry_id)
            for entry_id in retriever.entry_ids
            if topic is None or retriever.topics[entry_id] == topic
        ],
        index_version=retriever.version,
    )


@router.get(
    "/{entry_id}", response_model=EntryDetail, responses={404: {"description": "No such entry"}}
)
def entry(retriever: RetrieverDep, entry_id: Annotated[str, Path(max_length=128)]) -> EntryDetail:
    """One entry: its answer and alternate questions in English and Chinese, and its source."""
    if entry_id not in retriever.topics:
        raise HTTPException(404, f"no entry {entry_id!r}")
    en, zh = retriever.passage(entry_id, "en"), retriever.passage(entry_id, "zh")
    return EntryDetail(
        **_summary(retriever, entry_id).model_dump(),
        url=en.url,
        questions={"en": list(en.questions), "zh": list(zh.questions)},
        answer=Bilingual(en=en.text, zh=zh.text),
    )


def _summary(retriever: Retriever, entry_id: str) -> EntrySummary:
    en, zh = retriever.passage(entry_id, "en"), retriever.passage(entry_id, "zh")
    return EntrySummary(id=entry_id, topic=en.topic, title=Bilingual(en=en.title, zh=zh.title))
