"""DingTalk: an outgoing robot (@ the robot in a group, or message it). The ``timestamp`` and
``sign`` headers are checked first (HMAC-SHA256 with the app secret, at most an hour old);
the answer goes back in the HTTP response as a Markdown message."""

from __future__ import annotations

import base64
import hashlib
import hmac

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from service.web import jsonbody
from service.web.channels import common, rendering
from service.web.state import AppState, app_state

router = APIRouter(prefix="/integrations", tags=["integrations"])
PLATFORM = "dingtalk"
WINDOW_MS = 3600 * 1000
# DingTalk documents no exact cap for a robot's Markdown reply; long messages are cut at a
# conservative 5000 characters, with a link to the rest.
MARKDOWN_LIMIT = 5000


def signature(timestamp: str, secret: str) -> str:
    """base64(HMAC-SHA256(secret, timestamp + "\\n" + secret)), as DingTalk signs."""
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256)
    return base64.b64encode(digest.digest()).decode()


@router.post("/dingtalk", summary="DingTalk outgoing robot")
async def dingtalk(request: Request) -> JSONResponse:
    state = app_state(request)
    secret = state.settings.dingtalk_app_secret
    if not secret:
        raise common.not_configured("DingTalk", "dingtalk_app_secret")
    timestamp = request.headers.get("timestamp", "")
    sign = request.headers.get("sign", "")
    if not timestamp or not sign:
        raise common.unauthorized(state, PLATFORM, "missing timestamp or sign header")
    if not common.recent(timestamp, WINDOW_MS / 1000, per_second=1000):
        raise common.unauthorized(state, PLATFORM, "timestamp not in milliseconds within an hour")
    if not hmac.compare_digest(sign.encode(), signature(timestamp, secret).encode()):
        raise common.unauthorized(state, PLATFORM, "bad sign")
    try:
        payload = jsonbody.loads(await request.body())
    except ValueError:
        return JSONResponse({"detail": "the body is not JSON"}, status_code=400)
    if not isinstance(payload, dict):
        return JSONResponse({"detail": "the body is not a JSON object"}, status_code=400)
    message_id = str(payload.get("msgId", ""))
    if message_id and state.store and not state.store.claim(f"dingtalk:{message_id}", 3600):
        common.count(state, PLATFORM, "duplicate")
        return JSONResponse({})
    question = str(common.mapping(payload.get("text")).get("content", "")).strip()
    conversation = f"dingtalk:{payload.get('conversationId')}:{payload.get('senderId')}"
    title, body = await _reply(state, question, conversation)
    common.count(state, PLATFORM, "answered")
    return JSONResponse({"msgtype": "markdown", "markdown": {"title": title, "text": body}})


async def _reply(state: AppState, question: str, conversation: str) -> tuple[str, str]:
    reply = await common.answer_or_notice(state, question, conversation)
    if isinstance(reply, common.Notice):
        return "dockfaq", reply.text
    cited = rendering.sources(reply)
    title = cited[0].title if reply.answered and cited else "dockfaq"
    return title, rendering.markdown(reply, state.settings.public_url, MARKDOWN_LIMIT)
