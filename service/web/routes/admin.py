"""POST /admin/reload: rebuild the index from the corpus and swap it in, with no failed requests."""

from __future__ import annotations

import logging
import os
import signal

from fastapi import APIRouter, HTTPException
from starlette.concurrency import run_in_threadpool

from service import engine
from service.errors import CorpusError, DockfaqError
from service.rebuild import build_in_child
from service.retrieval import Retriever
from service.web.security import AdminDep
from service.web.state import AppState, RetrieverDep, StateDep

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[AdminDep])
log = logging.getLogger(__name__)


@router.post("/reload")
async def reload(state: StateDep, current: RetrieverDep) -> dict[str, str]:
    """Rebuild the index from DOCKFAQ_CORPUS_DIR while the old one keeps serving, then swap.
    A broken corpus is refused (422) and the old index stays."""
    if not state.reloading.acquire(blocking=False):
        raise HTTPException(409, "a reload is already running")
    try:
        fresh = await run_in_threadpool(rebuild, state, current)
    except CorpusError as exc:
        raise HTTPException(422, f"reload refused, the old index keeps serving: {exc}") from exc
    finally:
        state.reloading.release()
    if state.worker:
        # The other workers: the supervisor replaces each (this one too) with a process that
        # loads the new index before it serves.
        os.kill(os.getppid(), signal.SIGHUP)
    return {"index_version": fresh.version, "previous": current.version}


def reload_on_signal(state: AppState) -> None:
    """SIGHUP: the same reload as POST /admin/reload, logged instead of answered."""
    current = state.retriever
    if current is None or not state.reloading.acquire(blocking=False):
        log.warning("SIGHUP ignored: the index is still loading or a reload is running")
        return
    try:
        fresh = rebuild(state, current)
        log.info("SIGHUP reload: index %s replaced %s", fresh.version, current.version)
    except CorpusError as exc:
        log.error("SIGHUP reload refused, the old index keeps serving: %s", exc)
    except DockfaqError as exc:
        log.error("SIGHUP reload failed, the old index keeps serving: %s", exc)
    finally:
        state.reloading.release()


def rebuild(state: AppState, current: Retriever) -> Retriever:
    """Build a new index and load it with the already loaded model; requests in flight keep
    the Retriever they started with, new ones get the new one (one attribute assignment).

    A server that loaded its own index builds in a child process (service/rebuild.py), so the
    build's memory goes back to the system; one given a Retriever (tests) builds in process
    with that Retriever's embedder."""
    if state.builds_in_child:
        build_in_child(state.settings)
    else:
        engine.build(state.settings, current.embedder)
    fresh = engine.reopen(state.settings, current)
    state.set_retriever(fresh)
    return fresh
