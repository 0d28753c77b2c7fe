"""A small real HTTP server standing in for the Slack and Feishu APIs (which cannot be reached
from here). It answers as their documentation shows, checks the auth headers the way they
do, and records every call so tests can see exactly what dockfaq posted."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SLACK_BOT_TOKEN = "xoxb-test-token"
FEISHU_APP_ID = "cli_test_app"
FEISHU_APP_SECRET = "feishu-app-secret"
FEISHU_TENANT_TOKEN = "t-test-tenant-token"


@dataclass
class Call:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    authorized: bool


@dataclass
class FakePlatform:
    server: ThreadingHTTPServer
    calls: list[Call] = field(default_factory=list)
    fail_with: int | None = None  # answer every call with this HTTP status
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def received(self, path_part: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if path_part in c.path]

    def wait_for(self, path_part: str, count: int = 1, timeout: float = 20.0) -> list[Call]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.received(path_part)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"expected {count} call(s) to {path_part}; got {self.calls}")

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()
        self.fail_with = None

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _answer(path: str, headers: dict[str, str], body: dict[str, Any]) -> tuple[bool, Any]:
    """(authorized, JSON reply) as the platform would give it."""
    auth = headers.get("authorization", "")
    if path.startswith("/api/"):  # Slack Web API: errors come as 200 {"ok": false}
        if auth != f"Bearer {SLACK_BOT_TOKEN}":
            return False, {"ok": False, "error": "invalid_auth"}
        return True, {"ok": True, "channel": body.get("channel"), "ts": f"{time.time():.6f}"}
    if path == "/open-apis/auth/v3/tenant_access_token/internal":
        if (body.get("app_id"), body.get("app_secret")) != (FEISHU_APP_ID, FEISHU_APP_SECRET):
            return False, {"code": 10014, "msg": "app secret invalid"}
        return True, {
            "code": 0,
            "msg": "ok",
            "tenant_access_token": FEISHU_TENANT_TOKEN,
            "expire": 7200,
        }
    if path.startswith("/open-apis/im/v1/messages/"):
        if auth != f"Bearer {FEISHU_TENANT_TOKEN}":
            return False, {"code": 99991663, "msg": "Invalid access token for authorization."}
        return True, {"code": 0, "msg": "success", "data": {"message_id": "om_reply"}}
    return False, {"error": "unknown path"}


def start() -> FakePlatform:
    platform: FakePlatform

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                body = {"unparsed": raw.decode("utf-8", "replace")}
            headers = {k.lower(): v for k, v in self.headers.items()}
            authorized, reply = _answer(self.path, headers, body)
            with platform.lock:
                platform.calls.append(Call(self.path, headers, body, authorized))
            status = platform.fail_with or 200
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    platform = FakePlatform(server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return platform


# What the platforms do to the requests they send us (from their documentation).


def slack_headers(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """Slack's v0 signature: HMAC-SHA256 over "v0:<timestamp>:<body>"."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def dingtalk_headers(secret: str, timestamp_ms: int | None = None) -> dict[str, str]:
    """DingTalk: sign = base64(HMAC-SHA256(secret, "<timestamp>\\n<secret>"))."""
    ts = str(int(time.time() * 1000) if timestamp_ms is None else timestamp_ms)
    digest = hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()
    return {"timestamp": ts, "sign": base64.b64encode(digest).decode()}


def feishu_encrypt(event: dict[str, Any], encrypt_key: str) -> bytes:
    """Feishu's encrypted body: base64(iv + AES-256-CBC(PKCS#7(json))), key = SHA-256(key)."""
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key = hashlib.sha256(encrypt_key.encode()).digest()
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(json.dumps(event).encode()) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    sealed = iv + encryptor.update(padded) + encryptor.finalize()
    return json.dumps({"encrypt": base64.b64encode(sealed).decode()}).encode()


def feishu_headers(body: bytes, encrypt_key: str, timestamp: int | None = None) -> dict[str, str]:
    """X-Lark-Signature: SHA-256 hex of timestamp + nonce + encrypt key + body."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = uuid.uuid4().hex
    digest = hashlib.sha256((ts + nonce + encrypt_key).encode() + body).hexdigest()
    return {
        "X-Lark-Request-Timestamp": ts,
        "X-Lark-Request-Nonce": nonce,
        "X-Lark-Signature": digest,
        "Content-Type": "application/json",
    }


def slack_mention(text: str, event_id: str, ts: str = "1700000000.000100") -> dict[str, Any]:
    """An app_mention event_callback, shaped as in Slack's Events API documentation."""
    return {
        "token": "deprecated-verification-token",
        "team_id": "T061EG9R6",
        "api_app_id": "A0MDYCDME",
        "event": {
            "type": "app_mention",
            "user": "U061F7AUR",
            "text": f"<@U0LAN0Z89> {text}",
            "ts": ts,
            "channel": "C0LAN2Q65",
            "event_ts": ts,
        },
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "authorizations": [{"team_id": "T061EG9R6", "user_id": "U0LAN0Z89", "is_bot": True}],
    }


def feishu_message(
    text: str, event_id: str, token: str, sender_type: str = "user"
) -> dict[str, Any]:
    """An im.message.receive_v1 event (schema 2.0), as in Feishu's documentation."""
    return {
        "schema": "2.0",
        "header": {
            "event_id": event_id,
            "event_type": "im.message.receive_v1",
            "create_time": str(int(time.time() * 1000)),
            "token": token,
            "app_id": FEISHU_APP_ID,
            "tenant_key": "2ca1d211f64f6438",
        },
        "event": {
            "sender": {
                "sender_id": {"open_id": "ou_84aad35d084aa403a838cf73ee18467"},
                "sender_type": sender_type,
                "tenant_key": "2ca1d211f64f6438",
            },
            "message": {
                "message_id": f"om_{event_id}",
                "create_time": str(int(time.time() * 1000)),
                "chat_id": "oc_5ad11d72b830411d72b836c20",
                "chat_type": "group",
                "message_type": "text",
                "content": json.dumps({"text": f"@_user_1 {text}"}, ensure_ascii=False),
                "mentions": [{"key": "@_user_1", "id": {"open_id": "ou_bot"}, "name": "dockfaq"}],
            },
        },
    }


def dingtalk_message(text: str, msg_id: str) -> dict[str, Any]:
    """An outgoing-robot callback body, as in DingTalk's documentation."""
    return {
        "msgtype": "text",
        "text": {"content": f" {text}"},
        "msgId": msg_id,
        "createAt": int(time.time() * 1000),
        "conversationType": "2",
        "conversationId": "cid6KeBBLoveMJOGXoYKF5x7EeiodoA==",
        "conversationTitle": "Docker help",
        "senderId": "$:LWCP_v1:$Ff09GdaXHgOEYf5Ma8Xw==",
        "senderNick": "Zhang San",
        "chatbotUserId": "$:LWCP_v1:$Q3C7ybTF3Ty5Ts+aaNmNYPkZ",
        "isInAtList": True,
        "atUsers": [{"dingtalkId": "$:LWCP_v1:$Q3C7ybTF3Ty5Ts+aaNmNYPkZ"}],
    }
