"""Feishu/Lark: event subscription (``im.message.receive_v1``), answered through the IM API.

Checked first: the ``X-Lark-Signature`` of encrypted events (SHA-256 over timestamp, nonce,
encrypt key and body) and the verification token. Events encrypted with the Encrypt Key
(AES-256-CBC, key = SHA-256 of the Encrypt Key, IV = the first 16 bytes) are decrypted.
Replies use a tenant access token, fetched with the app's id and secret and cached.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import JSONResponse, Response

from service.settings import Settings
from service.web import jsonbody
from service.web.channels import common, rendering
from service.web.state import AppState, app_state

router = APIRouter(prefix="/integrations/feishu", tags=["integrations"])
PLATFORM = "feishu"
WINDOW_SECONDS = 3600
# A text or rich-text message is at most 150 KB; 30000 characters stays inside that even
# when every character is CJK (3 bytes in UTF-8).
POST_LIMIT = 30000
LOCALES = {"en": "en_us", "zh": "zh_cn"}


class Rejected(Exception):
    """The request did not come from Feishu (or cannot be read)."""


def decrypt(encrypted: str, encrypt_key: str) -> bytes:
    key = hashlib.sha256(encrypt_key.encode()).digest()
    try:
        raw = base64.b64decode(encrypted, validate=True)
        if len(raw) < 32 or len(raw) % 16:
            raise ValueError("not a whole number of AES blocks")
        decryptor = Cipher(algorithms.AES(key), modes.CBC(raw[:16])).decryptor()
        padded = decryptor.update(raw[16:]) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError as exc:
        raise Rejected(f"cannot decrypt the event: {exc}") from exc


def signature(timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    return hashlib.sha256((timestamp + nonce + encrypt_key).encode() + body).hexdigest()


def _payload(request: Request, body: bytes, settings: Settings) -> dict[str, Any]:
    """The event, decrypted when an Encrypt Key is set, once it is known to be Feishu's."""
    key = settings.feishu_encrypt_key
    signed = request.headers.get("X-Lark-Signature", "")
    if key and signed:  # every event but the URL check is signed
        timestamp = request.headers.get("X-Lark-Request-Timestamp", "")
        nonce = request.headers.get("X-Lark-Request-Nonce", "")
        if not common.recent(timestamp, WINDOW_SECONDS):
            raise Rejected("missing or stale X-Lark-Request-Timestamp")
        if not hmac.compare_digest(signed, signature(timestamp, nonce, key, body)):
            raise Rejected("bad X-Lark-Signature")
    try:
        outer = jsonbody.loads(body)
        if key:
            if not isinstance(outer, dict) or not isinstance(outer.get("encrypt"), str):
                raise Rejected("an Encrypt Key is set but the event is not encrypted")
            outer = jsonbody.loads(decrypt(outer["encrypt"], key))
    except ValueError as exc:
        raise Rejected(f"the body is not an event: {exc}") from exc
    if not isinstance(outer, dict):
        raise Rejected("the body is not an event")
    is_check = outer.get("type") == "url_verification"
    if key and not signed and not is_check:
        raise Rejected("missing X-Lark-Signature")
    token = (
        outer.get("token")
        if "header" not in outer
        else common.mapping(outer["header"]).get("token")
    )
    expected = settings.feishu_verification_token
    if not hmac.compare_digest(str(token or "").encode(), expected.encode()):
        raise Rejected("wrong verification token")
    return outer


@router.post("/events", summary="Feishu/Lark event subscription")
async def events(request: Request, background: BackgroundTasks) -> Response:
    state = app_state(request)
    settings = state.settings
    if not (settings.feishu_app_id and settings.feishu_app_secret):
        raise common.not_configured(
            "Feishu", "feishu_app_id", "feishu_app_secret", "feishu_verification_token"
        )
    if not settings.feishu_verification_token:
        raise common.not_configured("Feishu", "feishu_verification_token")
    try:
        payload = _payload(request, await request.body(), settings)
    except Rejected as exc:
        # One answer for every failure, logged apart: a reply that told bad padding from a bad
        # token would let anyone decrypt an event a byte at a time.
        raise common.unauthorized(state, PLATFORM, str(exc), tell=False) from exc
    if payload.get("type") == "url_verification":
        return JSONResponse({"challenge": str(payload.get("challenge", ""))})
    header = common.mapping(payload.get("header"))
    event = common.mapping(payload.get("event"))
    message = common.mapping(event.get("message"))
    sender = common.mapping(event.get("sender"))
    if (
        header.get("event_type") != "im.message.receive_v1"
        or sender.get("sender_type") != "user"  # never our own replies
        or message.get("message_type") != "text"
        or not message.get("message_id")
    ):
        common.count(state, PLATFORM, "ignored")
        return JSONResponse({})
    event_id = str(header.get("event_id") or message["message_id"])
    if not state.store or not state.store.claim(f"feishu:{event_id}", common.DEDUP_SECONDS):
        common.count(state, PLATFORM, "duplicate")
        return JSONResponse({})
    background.add_task(_answer, state, message)
    return JSONResponse({})  # acknowledged at once; the reply follows through the IM API


async def _answer(state: AppState, message: dict[str, Any]) -> None:
    try:
        question = str(json.loads(message.get("content") or "{}").get("text", ""))
    except (ValueError, AttributeError):
        question = ""
    question = re.sub(r"@_user_\d+", " ", question).strip()
    conversation = f"feishu:{message.get('chat_id')}:{message.get('root_id') or ''}"
    markdown, language = await _reply_text(state, question, conversation)
    token = await tenant_token(state)
    if token is None:
        common.count(state, PLATFORM, "failed")
        return
    locale = LOCALES.get(language, "en_us")
    content = {locale: {"title": "", "content": [[{"tag": "md", "text": markdown}]]}}
    base = state.settings.feishu_api_url
    replied = await common.call(
        state,
        PLATFORM,
        f"{base}/open-apis/im/v1/messages/{message['message_id']}/reply",
        {"msg_type": "post", "content": json.dumps(content, ensure_ascii=False)},
        {"Authorization": f"Bearer {token}"},
        accepted=lambda body: body.get("code") == 0,
    )
    if replied is None:
        state.tokens[PLATFORM].clear()  # perhaps revoked: fetch a fresh one next time
    common.count(state, PLATFORM, "answered" if replied else "failed")


async def _reply_text(state: AppState, question: str, conversation: str) -> tuple[str, str]:
    reply = await common.answer_or_notice(state, question, conversation)
    if isinstance(reply, common.Notice):
        return reply.text, reply.language
    return rendering.markdown(reply, state.settings.public_url, POST_LIMIT), reply.language


async def tenant_token(state: AppState) -> str | None:
    cache = state.tokens[PLATFORM]
    async with cache.lock:
        if cache.token and time.monotonic() < cache.expires_at:
            return cache.token
        settings = state.settings
        body = await common.call(
            state,
            PLATFORM,
            f"{settings.feishu_api_url}/open-apis/auth/v3/tenant_access_token/internal",
            {"app_id": settings.feishu_app_id, "app_secret": settings.feishu_app_secret},
            accepted=lambda body: body.get("code") == 0 and bool(body.get("tenant_access_token")),
        )
        if body is None:
            return None
        cache.token = str(body["tenant_access_token"])
        cache.expires_at = time.monotonic() + max(int(body.get("expire", 7200)) - 300, 60)
        return cache.token
