"""Chat platforms under /integrations/<platform>/: one module per platform verifies the
request, translates its payload, asks the same ``answer`` as /chat and renders the reply."""

from __future__ import annotations

from fastapi import APIRouter

from service.web.channels import dingtalk, feishu, mattermost, slack

ROUTERS: tuple[APIRouter, ...] = (slack.router, mattermost.router, feishu.router, dingtalk.router)
