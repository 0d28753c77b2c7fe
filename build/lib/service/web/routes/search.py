"""GET /search: FAQ search over the corpus entries."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from service import text
from service.answer import snippet
from service.corpus import Topic
from service.scoring import SCORING
from service.text import Language
from service.web.jsonbody import StrictJSONRoute
from service.web.schemas import MAX_MESSAGE_CHARS, SearchResponse, SearchResult
from service.web.state import RetrieverDep

router = APIRouter(tags=["search"], route_class=StrictJSONRoute)

# `topic=&language=` (empty, as HTML forms send them) means "no filter"; the schema says so.
TopicFilter = Literal[Topic, ""]
LanguageFilter = Literal[Language, ""]


@router.get("/search", response_model=SearchResponse)
def search(
    retriever: RetrieverDep,
    q: Annotated[str, Query(min_length=1, max_length=MAX_MESSAGE_CHARS)],
    k: Annotated[int, Query(ge=1, le=20)] = 5,
    topic: Annotated[TopicFilter | None, Query()] = None,
    language: Annotated[LanguageFilter | None, Query()] = None,
) -> SearchResponse:
    """The entries that best match `q`, best first; `language` picks the passages' language."""
    language = language or text.detect_language(q)
    found = retriever.search(q, k=k, topic=topic or None, language=language)
    hits = [h for h in found if h.fused >= SCORING.search_floor]
    return SearchResponse(
        query=q,
        results=[
            SearchResult(
                id=h.entry_id,
                title=h.passage.title,
                topic=h.passage.topic,
                language=h.passage.language,
                snippet=snippet(h.passage.text),
                score=h.confidence,
                url=h.passage.url,
            )
            for h in hits
        ],
        index_version=retriever.version,
    )
