"""Mattermost: an outgoing webhook (trigger word) or a slash command, form-encoded or JSON.
The token Mattermost sends is checked first; the answer goes back in the HTTP response."""

from __future__ import annotations

import hmac
import json
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from service.web.channels import common, rendering
from service.web.state import AppState, app_state

router = APIRouter(prefix="/integrations", tags=["integrations"])
PLATFORM = "mattermost"
# A Mattermost post holds at most 16383 characters (the server's maximum post size).
POST_LIMIT = 16383


@router.post("/mattermost", summary="Mattermost outgoing webhook or slash command")
async def mattermost(request: Request) -> JSONResponse:
    state = app_state(request)
    tokens = state.settings.mattermost_token_list
    if not tokens:
        raise common.not_configured("Mattermost", "mattermost_token")
    form = _fields(await request.body(), request.headers.get("content-type", ""))
    given = str(form.get("token", ""))
    if not any(hmac.compare_digest(given.encode(), token.encode()) for token in tokens):
        raise common.unauthorized(state, PLATFORM, "wrong or missing token")
    command = bool(form.get("command"))
    question = str(form.get("text", ""))
    trigger = str(form.get("trigger_word", ""))
    if not command and trigger and question.startswith(trigger):
        question = question[len(trigger) :]
    user = form.get("user_id", "")
    reply = await _reply(state, question.strip(), f"mattermost:{form.get('channel_id')}:{user}")
    common.count(state, PLATFORM, "answered")
    # A slash command answers in the channel; a webhook answers in the thread of the post.
    return JSONResponse({"response_type": "in_channel" if command else "comment", "text": reply})


def _fields(body: bytes, content_type: str) -> dict[str, Any]:
    raw = body.decode("utf-8", "replace")
    if "json" in content_type:
        try:
            data = json.loads(raw)
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}
    return {key: values[0] for key, values in parse_qs(raw).items()}


async def _reply(state: AppState, question: str, conversation: str) -> str:
    reply = await common.answer_or_notice(state, question, conversation)
    if isinstance(reply, common.Notice):
        return reply.text
    return rendering.markdown(reply, state.settings.public_url, POST_LIMIT)
