"""POST /feedback and /entries/{id}/feedback: thumbs up or down on an answer or on a FAQ
entry, kept for the curators."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request

from service.conversations import EntryVote, Feedback, now
from service.web import security
from service.web.jsonbody import StrictJSONRoute
from service.web.schemas import (
    EntryVoteRequest,
    EntryVoteResponse,
    FeedbackRequest,
    FeedbackResponse,
)
from service.web.state import RetrieverDep, StoreDep

router = APIRouter(tags=["feedback"], route_class=StrictJSONRoute)


@router.post(
    "/feedback",
    response_model=FeedbackResponse,
    status_code=201,
    responses={404: {"description": "Unknown message_id"}},
)
def feedback(request: FeedbackRequest, store: StoreDep, http: Request) -> FeedbackResponse:
    """Rate the answer with `message_id` (from /chat) `up` or `down`, with an optional comment.
    One vote per message: voting again replaces the earlier vote. Only whoever asked may vote
    (with API keys on: the key that started the conversation)."""
    turn = store.turn(request.message_id)
    if turn is None or turn.owner != security.owner(http):
        raise HTTPException(404, f"unknown message_id {request.message_id!r}")
    store.add_feedback(Feedback(request.message_id, request.rating, request.comment, now()))
    return FeedbackResponse(status="recorded", message_id=request.message_id)


@router.post(
    "/entries/{entry_id}/feedback",
    response_model=EntryVoteResponse,
    status_code=201,
    responses={404: {"description": "No such entry"}},
)
def entry_feedback(
    entry_id: Annotated[str, Path(max_length=128)],
    request: EntryVoteRequest,
    store: StoreDep,
    retriever: RetrieverDep,
) -> EntryVoteResponse:
    """ "Was this helpful?" on a FAQ entry: `up` or `down`, with an optional comment. Every
    vote is kept (the page lets a browser vote once per entry)."""
    if entry_id not in retriever.topics:
        raise HTTPException(404, f"no entry {entry_id!r}")
    store.add_entry_vote(EntryVote(entry_id, request.rating, request.comment, now()))
    return EntryVoteResponse(status="recorded", entry_id=entry_id)
