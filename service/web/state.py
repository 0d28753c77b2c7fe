"""The heavy objects the lifespan loads, and the dependencies that hand them to routes."""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

import httpx
from fastapi import Depends, Request

from service.answer import Answer
from service.batching import BatchingEmbedder
from service.cache import LRUCache
from service.chat import Chat
from service.conversations import ConversationStore
from service.errors import NotReady
from service.retrieval import Retriever
from service.settings import Settings
from service.web.metrics import Metrics
from service.web.session import PageSessions

if TYPE_CHECKING:
    from limits import RateLimitItem
    from limits.strategies import MovingWindowRateLimiter


@dataclass(frozen=True)
class RateLimiter:
    """A moving-window strategy and the limits it enforces; with Redis, every replica counts
    against the same windows."""

    strategy: MovingWindowRateLimiter
    limits: list[RateLimitItem]


@dataclass
class AccessToken:
    """A chat platform's access token, and when to fetch the next one (time.monotonic())."""

    token: str | None = None
    expires_at: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one refresh at a time

    def clear(self) -> None:
        self.token, self.expires_at = None, 0.0


class AppState:
    """What the routes share: settings, and the retriever once the index is loaded."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.retriever: Retriever | None = None
        self.load_error: str | None = None
        self.store: ConversationStore | None = None
        # Reloads build the index in a child process, except in an app handed a ready
        # Retriever (tests), whose embedder may exist only in this process.
        self.builds_in_child = False
        self.worker = False  # one of several processes (`dockfaq serve --workers N`)
        self.reloading = threading.Lock()  # one reload at a time (POST /admin/reload, SIGHUP)
        self.metrics = Metrics()
        # Answers to questions asked without earlier turns, for the loaded index only.
        self.answers: LRUCache[Answer] = LRUCache(
            settings.cache_size, record=self.metrics.cache_recorder("answer")
        )
        self.http: httpx.AsyncClient | None = None  # calls to chat platform APIs
        self.tokens: defaultdict[str, AccessToken] = defaultdict(AccessToken)  # per platform
        self.limiter = _limiter(settings.rate_limit, settings.redis_url)
        self._chat: Chat | None = None
        self.sessions: PageSessions | None = None
        self.page_limiter: RateLimiter | None = None
        if settings.page_public and settings.api_key_list:
            keys = [*settings.api_key_list, settings.admin_key]
            self.sessions = PageSessions(keys, settings.conversation_ttl)
            self.page_limiter = _limiter(settings.page_rate_limit, settings.redis_url)

    @property
    def chat(self) -> Chat:
        """The conversation use case over the open store."""
        store = self.store
        if store is None:
            raise NotReady("the conversation store is not open")
        if self._chat is None or self._chat.store is not store:
            answered, refused = (self.metrics.answers.labels(o) for o in ("answered", "refused"))
            self._chat = Chat(
                store,
                self.answers,
                self.settings.confidence_threshold,
                lambda ok: (answered if ok else refused).inc(),
            )
        return self._chat

    def set_retriever(self, retriever: Retriever) -> None:
        retriever.vector_cache.record = self.metrics.cache_recorder("embedding")
        if isinstance(retriever.embedder, BatchingEmbedder):
            retriever.embedder.record = self.metrics.batch_recorder()
        previous, self.retriever = self.retriever, retriever
        self.answers.clear()  # a new index version: earlier answers may no longer hold
        if previous is not None and previous.version != retriever.version:
            # Workers' values are files that clear() does not empty: the old version says 0.
            self.metrics.index.labels(previous.version).set(0)
            self.metrics.index.clear()
        self.metrics.index.labels(retriever.version).set(1)
        self.metrics.entries.set(len(retriever.entry_ids))


def _limiter(spec: str, redis_url: str) -> RateLimiter | None:
    if not spec:
        return None
    from limits import parse_many
    from limits.storage import storage_from_string
    from limits.strategies import MovingWindowRateLimiter

    storage = storage_from_string(redis_url or "memory://")
    return RateLimiter(MovingWindowRateLimiter(storage), parse_many(spec))


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.dockfaq
    return state


# The dependencies are coroutines: none of them blocks, and a plain function would cost a trip
# through the thread pool on every request.


async def get_state(request: Request) -> AppState:
    return app_state(request)


async def get_settings(request: Request) -> Settings:
    return app_state(request).settings


async def get_retriever(request: Request) -> Retriever:
    state = app_state(request)
    if state.retriever is None:
        raise NotReady(state.load_error or "the index is still loading; retry shortly")
    return state.retriever


async def get_chat(request: Request) -> Chat:
    return app_state(request).chat


async def get_store(request: Request) -> ConversationStore:
    store = app_state(request).store
    if store is None:
        raise NotReady("the conversation store is not open")
    return store


StateDep = Annotated[AppState, Depends(get_state)]
StoreDep = Annotated[ConversationStore, Depends(get_store)]
ChatDep = Annotated[Chat, Depends(get_chat)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
RetrieverDep = Annotated[Retriever, Depends(get_retriever)]
