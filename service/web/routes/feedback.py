"""POST /feedback: thumbs up or down on an answer, kept for the curators."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request

from service.conversations import Feedback, now
from service.web import security
from service.web.jsonbody import StrictJSONRoute
from service.web.schemas import FeedbackRequest, FeedbackResponse
from service.web.state import StoreDep

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
