"""The FastAPI application: ``create_app(settings)`` assembles everything in one place."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from service import __version__, conversations, corpus, engine, rebuild
from service.errors import (
    DockfaqError,
    IndexMismatch,
    IndexNotBuilt,
    NotReady,
    UnknownConversation,
)
from service.retrieval import Retriever
from service.settings import Settings
from service.web import headers
from service.web.channels import ROUTERS as CHANNELS
from service.web.middleware import BodyLimitMiddleware, RequestMiddleware
from service.web.routes import (
    admin,
    chat,
    entries,
    feedback,
    health,
    metrics,
    openai,
    page,
    search,
)
from service.web.security import ApiKeyDep, RateLimitDep
from service.web.state import AppState

log = logging.getLogger(__name__)
MEMORY_EVERY_S = 5.0

# Errors any route may answer, documented in the OpenAPI schema.
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Malformed request body"},
    413: {"description": "Request body over DOCKFAQ_MAX_BODY_BYTES"},
    503: {"description": "The index is still loading"},
}
# Domain errors -> HTTP statuses, in one place.
STATUS = {NotReady: 503, IndexNotBuilt: 503, IndexMismatch: 503, UnknownConversation: 404}


def create_app(
    settings: Settings | None = None, retriever: Retriever | None = None, worker: bool = False
) -> FastAPI:
    """Build the app; pass ``retriever`` to serve an already loaded index (tests do).

    ``worker``: one of `dockfaq serve --workers N`'s processes (see ``worker_app``)."""
    settings = settings or Settings()
    state = AppState(settings)
    state.worker = worker
    app = FastAPI(
        title="dockfaq",
        version=__version__,
        summary="Bilingual Docker Q&A from a curated corpus, with citations.",
        lifespan=_lifespan(state, retriever),
        docs_url=None,  # served from the installed swagger-ui-bundle, not a CDN (headers.py)
        redoc_url=None,
    )
    app.state.dockfaq = state
    # Only the guards that are configured run (and appear in the schema).
    # The limit first: a wrong key counts against the caller like any other request.
    guards, guarded = [], dict(ERRORS)
    if settings.rate_limit:
        guards.append(RateLimitDep)
        guarded[429] = {"description": "Rate limit exceeded (see Retry-After)"}
    if settings.api_key_list:
        guards.append(ApiKeyDep)
        guarded[401] = {"description": "Missing or invalid API key"}
    for module in (chat, search, openai, feedback):
        app.include_router(module.router, dependencies=guards, responses=guarded)
    for module in (entries, health, metrics, page):
        app.include_router(module.router, responses=ERRORS)
    for router in CHANNELS:  # each verifies its platform's signature or token itself
        app.include_router(
            router,
            responses={
                **ERRORS,
                401: {"description": "Bad signature, token or timestamp: nothing was done"},
                404: {"description": "This platform is not configured"},
            },
        )
    if settings.admin_key:  # without an admin key the admin routes do not exist (404)
        app.include_router(
            admin.router,
            responses={
                **ERRORS,
                401: {"description": "Missing or invalid admin key"},
                403: {"description": "An API key may not use the admin routes"},
                409: {"description": "A reload is already running"},
                422: {"description": "The corpus is broken; the old index keeps serving"},
            },
        )
    app.mount("/static", StaticFiles(directory=page.STATIC), name="static")
    docs_policy = headers.mount_docs(app)
    if settings.cors_origin_list:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origin_list,
            allow_methods=["GET", "POST"],
            allow_headers=["*"],
        )
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    security = headers.SecurityHeaders(docs_policy)
    app.add_middleware(RequestMiddleware, metrics=state.metrics, extra_headers=security.for_path)
    if settings.trusted_proxy_list:
        # The client address comes from X-Forwarded-For only when a trusted proxy sent it; from
        # anyone else the header is ignored. Added last, it runs first: the rate limit sees it.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxy_list)
    app.add_exception_handler(DockfaqError, _domain_error)
    return app


def _lifespan(
    state: AppState, retriever: Retriever | None
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings = state.settings
        state.store = conversations.open_store(
            settings.data_dir, settings.redis_url, settings.conversation_ttl
        )
        # Platform APIs get a bounded wait: a hung platform must not pile up work here.
        state.http = httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=5.0))
        try:
            async with _index(state, retriever):
                memory = asyncio.create_task(_measure_memory(state))
                yield
                memory.cancel()
        finally:
            await state.http.aclose()
            state.store.close()
            state.metrics.process_exited()

    return lifespan


@asynccontextmanager
async def _index(state: AppState, retriever: Retriever | None) -> AsyncIterator[None]:
    if retriever is not None:
        state.set_retriever(retriever)
        yield
        return
    # Fail fast on a missing corpus or an index built for other settings; the slow part runs in
    # the background so /healthz answers and /readyz says 503 while the model and index load.
    corpus.require_dir(state.settings.corpus_dir)
    engine.check_index(state.settings)
    state.builds_in_child = True
    if state.worker:
        # A worker starts serving only once it can answer: uvicorn brings a new worker into
        # service (at start, after SIGHUP) when its start-up has finished, so none says 503.
        # The supervisor keeps the index up to date (service/web/workers.py): workers load it.
        await asyncio.to_thread(_load, state, False)
        if state.retriever is None:
            raise NotReady(f"this worker cannot serve: {state.load_error}")
        from service.web.workers import forward_sighup_to_supervisor

        forward_sighup_to_supervisor()
        yield
        return
    task = asyncio.create_task(asyncio.to_thread(_load, state))
    _reload_on_sighup(state)
    yield
    task.cancel()


async def _measure_memory(state: AppState) -> None:
    """Each worker's resident memory, in /metrics (dockfaq_process_resident_bytes)."""
    while True:
        state.metrics.measure_memory()
        await asyncio.sleep(MEMORY_EVERY_S)


def _reload_on_sighup(state: AppState) -> None:
    """`kill -HUP <pid>` rebuilds from the corpus and swaps the index, like POST /admin/reload."""
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(
            signal.SIGHUP, lambda: loop.run_in_executor(None, admin.reload_on_signal, state)
        )
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread (tests)
        log.debug("no SIGHUP handler in this thread")


def _load(state: AppState, update: bool = True) -> None:
    try:
        if update:
            rebuild.bring_up_to_date(state.settings)
        retriever = engine.open_retriever(state.settings, serving=True)
        state.set_retriever(retriever)
        log.info("index %s loaded", retriever.version)
    except DockfaqError as exc:
        state.load_error = str(exc)
        log.error("cannot load the index: %s", exc)
    except Exception as exc:  # a bug or the machine: /readyz must say so, not "loading" forever
        state.load_error = f"{type(exc).__name__}: {exc}"
        log.exception("cannot load the index")


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    status = next((code for kind, code in STATUS.items() if isinstance(exc, kind)), 500)
    return JSONResponse({"detail": str(exc)}, status_code=status)
