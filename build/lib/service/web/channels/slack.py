"""Slack: the Events API (mentions and direct messages), the /dockfaq slash command, and the
👍/👎 buttons. Every request is checked with slack_sdk's signing-secret verifier first."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import JSONResponse, Response
from slack_sdk.signature import SignatureVerifier

from service.conversations import Feedback, now
from service.web import jsonbody
from service.web.channels import common, rendering
from service.web.schemas import ChatResponse
from service.web.state import AppState, app_state

router = APIRouter(prefix="/integrations/slack", tags=["integrations"])
PLATFORM = "slack"
# Block Kit: a section's text holds at most 3000 characters; a context block 10 elements.
SECTION_LIMIT = 3000
CONTEXT_ELEMENTS = 10
FEEDBACK = {"feedback_up": "up", "feedback_down": "down"}
# Slack's verifier refuses requests older than this too.
STALE_SECONDS = 300


async def _verified(request: Request) -> tuple[AppState, bytes]:
    """The raw body, once the signature and timestamp (at most 5 minutes old) check out."""
    state = app_state(request)
    settings = state.settings
    if not (settings.slack_signing_secret and settings.slack_bot_token):
        raise common.not_configured("Slack", "slack_signing_secret", "slack_bot_token")
    body = await request.body()
    verifier = SignatureVerifier(settings.slack_signing_secret)
    timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
    signature = request.headers.get("X-Slack-Signature", "")
    if not timestamp or not signature:
        raise common.unauthorized(state, PLATFORM, "missing X-Slack-Signature or timestamp")
    if not common.recent(timestamp, STALE_SECONDS):
        raise common.unauthorized(state, PLATFORM, "bad signature or stale timestamp")
    if not verifier.is_valid(body, timestamp, signature):
        raise common.unauthorized(state, PLATFORM, "bad signature or stale timestamp")
    return state, body


@router.post("/events", summary="Slack Events API: app mentions and direct messages")
async def events(request: Request, background: BackgroundTasks) -> Response:
    state, body = await _verified(request)
    try:
        payload = jsonbody.loads(body)
    except ValueError:
        return JSONResponse({"detail": "the body is not JSON"}, status_code=400)
    if not isinstance(payload, dict):
        return JSONResponse({"detail": "the body is not a JSON object"}, status_code=400)
    if payload.get("type") == "url_verification":
        return JSONResponse({"challenge": str(payload.get("challenge", ""))})
    event = common.mapping(payload.get("event"))
    if payload.get("type") != "event_callback" or not _is_question(event):
        common.count(state, PLATFORM, "ignored")
        return Response(status_code=200)
    # Slack redelivers (X-Slack-Retry-Num) when an acknowledgement is late: answer each once.
    event_id = str(payload.get("event_id") or f"{event.get('channel')}:{event.get('ts')}")
    if not state.store or not state.store.claim(f"slack:{event_id}", common.DEDUP_SECONDS):
        common.count(state, PLATFORM, "duplicate")
        return Response(status_code=200)
    background.add_task(_answer_event, state, str(payload.get("team_id", "")), event)
    return Response(status_code=200)  # acknowledged at once; the answer follows in the thread


def _is_question(event: dict[str, Any]) -> bool:
    if event.get("bot_id") or event.get("subtype"):  # our own (or any bot's) posts, edits
        return False
    if event.get("type") == "app_mention":
        return True
    return event.get("type") == "message" and event.get("channel_type") == "im"


async def _answer_event(state: AppState, team: str, event: dict[str, Any]) -> None:
    question = plain(str(event.get("text", "")))
    channel = str(event.get("channel", ""))
    thread = str(event.get("thread_ts") or event.get("ts", ""))
    message = await _message(state, question, f"slack:{team}:{channel}:{thread}")
    url = f"{state.settings.slack_api_url}/chat.postMessage"
    posted = await common.call(
        state,
        PLATFORM,
        url,
        {**message, "channel": channel, "thread_ts": thread, "unfurl_links": False},
        _auth(state),
        accepted=lambda body: bool(body.get("ok")),
    )
    common.count(state, PLATFORM, "answered" if posted else "failed")


@router.post("/commands", summary="Slack slash command: /dockfaq <question>")
async def commands(request: Request) -> Response:
    state, body = await _verified(request)
    form = {key: values[0] for key, values in parse_qs(body.decode("utf-8", "replace")).items()}
    team, channel, user = form.get("team_id", ""), form.get("channel_id", ""), form.get("user_id")
    # The answer takes milliseconds, well inside Slack's 3 seconds: it goes in the response.
    question = plain(form.get("text", ""))
    message = await _message(state, question, f"slack:{team}:{channel}:{user}")
    common.count(state, PLATFORM, "answered")
    return JSONResponse({"response_type": "in_channel", **message})


@router.post("/interactions", summary="Slack interactivity: the 👍/👎 buttons under answers")
async def interactions(request: Request, background: BackgroundTasks) -> Response:
    state, body = await _verified(request)
    form = parse_qs(body.decode("utf-8", "replace"))
    try:
        payload = jsonbody.loads(form["payload"][0])
    except (KeyError, ValueError):
        return JSONResponse({"detail": "expected a form field 'payload' with JSON"}, 400)
    if not isinstance(payload, dict):
        return JSONResponse({"detail": "the field 'payload' is not a JSON object"}, 400)
    actions = [a for a in common.mappings(payload.get("actions")) if a.get("action_id") in FEEDBACK]
    if payload.get("type") != "block_actions" or not actions or state.store is None:
        common.count(state, PLATFORM, "ignored")
        return Response(status_code=200)
    action = actions[0]
    message_id = str(action.get("value", ""))
    turn = state.store.turn(message_id)
    if turn is None:
        common.count(state, PLATFORM, "ignored")
        return Response(status_code=200)
    state.store.add_feedback(Feedback(message_id, FEEDBACK[action["action_id"]], None, now()))
    common.count(state, PLATFORM, "feedback")
    background.add_task(_thank, state, payload, turn.language)
    return Response(status_code=200)


async def _thank(state: AppState, payload: dict[str, Any], language: str) -> None:
    """Replace the buttons with a thank-you, so the vote is visibly taken (and not repeated)."""
    container = common.mapping(payload.get("container"))
    message = common.mapping(payload.get("message"))
    channel = container.get("channel_id") or common.mapping(payload.get("channel")).get("id")
    ts = container.get("message_ts") or message.get("ts")
    if not channel or not ts:
        return
    blocks = [b for b in common.mappings(message.get("blocks")) if b.get("type") != "actions"]
    thanks = rendering.LABELS.get(language, rendering.LABELS["en"])["thanks"]
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": thanks}]})
    await common.call(
        state,
        PLATFORM,
        f"{state.settings.slack_api_url}/chat.update",
        {"channel": channel, "ts": ts, "blocks": blocks, "text": message.get("text", thanks)},
        _auth(state),
        accepted=lambda body: bool(body.get("ok")),
    )


async def _message(state: AppState, question: str, conversation: str) -> dict[str, Any]:
    """The Slack message (``text`` and ``blocks``) answering ``question``."""
    reply = await common.answer_or_notice(state, question, conversation)
    if isinstance(reply, common.Notice):
        return _notice(reply.text)
    return render(reply, state.settings.public_url)


def _notice(text: str) -> dict[str, Any]:
    return {"text": text, "blocks": [_section(text)]}


def render(response: ChatResponse, public_url: str) -> dict[str, Any]:
    """Block Kit: the answer, the sources as links, and 👍/👎 buttons feeding /feedback."""
    labels = rendering.LABELS[response.language]
    answer = rendering.fit(
        mrkdwn(response.answer),
        SECTION_LIMIT,
        response,
        public_url,
        lambda text, url: f"<{url}|{text}>",
    )
    blocks: list[dict[str, Any]] = [_section(answer)]
    links = [
        f"[{c.n}] <{escape(c.url)}|{escape(c.title)}>" if c.url else f"[{c.n}] {escape(c.title)}"
        for c in rendering.sources(response)
    ][:CONTEXT_ELEMENTS]
    if links:
        elements = [{"type": "mrkdwn", "text": link} for link in links]
        blocks.append({"type": "context", "elements": elements})
    blocks.append(
        {
            "type": "actions",
            "block_id": "dockfaq_feedback",
            "elements": [
                _button(f"👍 {labels['helpful']}", "feedback_up", response.message_id),
                _button(f"👎 {labels['unhelpful']}", "feedback_down", response.message_id),
            ],
        }
    )
    return {"text": answer, "blocks": blocks}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _button(text: str, action_id: str, message_id: str) -> dict[str, Any]:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": text, "emoji": True},
        "action_id": action_id,
        "value": message_id,
    }


def _auth(state: AppState) -> dict[str, str]:
    return {"Authorization": f"Bearer {state.settings.slack_bot_token}"}


def escape(value: str) -> str:
    """Slack's three control characters in message text."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def plain(value: str) -> str:
    """A question as the user typed it: mentions dropped, Slack's links and escapes undone."""
    value = re.sub(r"<@[A-Z0-9]+(\|[^>]*)?>", " ", value)
    value = re.sub(r"<(https?://[^>|]+)(\|[^>]*)?>", r"\1", value)
    return value.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").strip()


def mrkdwn(markdown: str) -> str:
    """Markdown as Slack mrkdwn: *bold*, <url|links>, headings as bold, bare code fences."""
    converted = escape(markdown)
    converted = re.sub(r"```[\w+-]+\n", "```\n", converted)
    converted = re.sub(r"\[([^\]]+)\]\((https?://[^)\s]+)\)", r"<\2|\1>", converted)
    converted = re.sub(r"\*\*(.+?)\*\*", r"*\1*", converted)
    return re.sub(r"^#{1,6}\s+(.+)$", r"*\1*", converted, flags=re.MULTILINE)
