"""The ``dockfaq`` command: a thin shell over the same functions the HTTP API calls."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from pydantic import ValidationError

from service.errors import ConfigError, DockfaqError
from service.settings import Settings

if TYPE_CHECKING:
    from service.retrieval import Retriever


class Fusion(StrEnum):
    """How `dockfaq eval` combines the signals: the fitted ranking, or reciprocal-rank fusion."""

    weighted = "weighted"
    rrf = "rrf"


REAL_QUESTIONS = Path("tests/eval/real.jsonl")
CLEAN_QUESTIONS = Path("tests/eval/questions.jsonl")

app = typer.Typer(
    help="dockfaq: a bilingual Docker Q&A assistant that answers from a curated corpus.",
    no_args_is_help=True,
    add_completion=False,
)


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        _fail(settings_problems(exc))
        raise  # unreachable


def settings_problems(exc: ValidationError) -> str:
    """One line per bad setting, named as it is set: DOCKFAQ_API_KEYS: a key of 2 characters..."""
    return "\nerror: ".join(
        (f"invalid setting DOCKFAQ_{str(error['loc'][0]).upper()}: " if error["loc"] else "")
        + error["msg"].removeprefix("Value error, ")
        for error in exc.errors()
    )


def printable(text: str) -> str:
    """``text`` with control characters (escape sequences, carriage returns, bidi overrides)
    shown escaped: users' questions must not drive the terminal of whoever reads them."""
    return "".join(
        c if c.isprintable() or c == " " else c.encode("unicode_escape").decode() for c in text
    )


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=1)


@app.command()
def build(
    if_stale: Annotated[
        bool, typer.Option("--if-stale", help="Only build when the corpus or model changed.")
    ] = False,
) -> None:
    """Validate the corpus and build the index into DOCKFAQ_INDEX_DIR.

    Example: dockfaq build
    """
    from tqdm import tqdm

    from service import corpus, engine

    settings = _settings()
    try:
        if if_stale:
            reason = engine.stale_reason(settings)
            if reason is None:
                typer.echo(f"index in {settings.index_dir} is up to date")
                return
            typer.echo(f"building: {reason}")
        corpus.load(settings.corpus_dir)  # report a broken corpus before the slow model load
        model = engine.embedder(settings)
        with tqdm(desc="embedding", unit=" texts", disable=None) as bar:  # None: off when not a tty
            index = engine.build(settings, model, bar.update)
    except DockfaqError as exc:
        _fail(str(exc))
        return
    m = index.manifest
    typer.echo(
        f"built index {m.index_version}: {m.entries} entries, {m.passages} passages, "
        f"{m.vectors} vectors in {settings.index_dir}"
    )


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on (DOCKFAQ_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (DOCKFAQ_PORT).")] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="Processes (DOCKFAQ_WORKERS); 0 = one per CPU core.", min=0, max=64),
    ] = None,
) -> None:
    """Serve the HTTP API; builds the index first if none exists.

    Example: dockfaq serve --port 8000
    """
    import uvicorn

    from service import conversations, corpus, engine, supervisor
    from service.logs import configure_logging

    settings = _settings()
    settings = settings.model_copy(
        update={k: v for k, v in {"host": host, "port": port, "workers": workers}.items() if v}
    )
    try:
        # A data directory that cannot be written (read-only, full, not a directory) or an
        # unreachable Redis stops here with one clear line, not a traceback or a crash loop.
        conversations.open_store(
            settings.data_dir, settings.redis_url, settings.conversation_ttl
        ).close()
        # So do a missing corpus and an index built for other settings.
        corpus.require_dir(settings.corpus_dir)
        engine.check_index(settings)
        count = _worker_count(settings)
        configure_logging()
        # log_config=None keeps the JSON logging; dockfaq writes its own access log.
        # uvicorn would trust X-Forwarded-For from 127.0.0.1; DOCKFAQ_TRUSTED_PROXIES decides.
        common: dict[str, Any] = dict(
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,
            proxy_headers=False,
            limit_concurrency=settings.max_connections,
        )
        if count == 1:
            from service.web import create_app, protocol

            uvicorn.run(
                create_app(settings),
                http=protocol.guarded(settings.max_header_bytes, settings.header_timeout),
                **common,
            )
            return
        supervisor.serve(settings, count, common)
    except DockfaqError as exc:
        _fail(str(exc))


def _worker_count(settings: Settings) -> int:
    """DOCKFAQ_WORKERS, or one per core. Without Redis, rate limits are counted in each
    process's memory: N workers would let N times the limit through, so they get one."""
    count = settings.workers or len(os.sched_getaffinity(0))
    limited = settings.rate_limit or (settings.page_public and settings.api_key_list)
    if count > 1 and limited and not settings.redis_url:
        if settings.workers:
            raise ConfigError(
                f"{count} workers would each count the rate limits on their own; set "
                "DOCKFAQ_REDIS_URL so they share them, or DOCKFAQ_WORKERS=1"
            )
        typer.echo(
            "note: one worker: the rate limits are counted in memory (DOCKFAQ_REDIS_URL shares "
            "them between workers)",
            err=True,
        )
        return 1
    return count


def _retriever(fusion: str = "weighted") -> Retriever:
    from service import engine

    try:
        return engine.open_retriever(_settings(), fusion="rrf" if fusion == "rrf" else "weighted")
    except DockfaqError as exc:
        _fail(str(exc))


@app.command()
def ask(
    question: str,
    top_k: Annotated[int, typer.Option(min=1, max=10)] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer as JSON.")] = False,
) -> None:
    """Answer a question and print its citations.

    Example: dockfaq ask "docker save vs docker export"
    """
    from service.answer import answer

    settings = _settings()
    result = answer(_retriever(), question, top_k=top_k, threshold=settings.confidence_threshold)
    if as_json:
        typer.echo(json.dumps(asdict(result), ensure_ascii=False, indent=2))
        return
    typer.echo(result.text)
    typer.echo("")
    for c in result.citations or result.alternatives:
        typer.echo(f"[{c.n}] {c.title} ({c.id}, score {c.score:.2f}) {c.url or ''}")
    typer.echo(f"\nconfidence {result.confidence:.2f}, answered: {result.answered}")


@app.command()
def search(
    terms: str,
    k: Annotated[int, typer.Option("-k", "--k", min=1, max=20, help="How many entries.")] = 5,
) -> None:
    """Search the FAQ entries.

    Example: dockfaq search "exit code 137"
    """
    for hit in _retriever().search(terms, k=k):
        typer.echo(f"{hit.confidence:.2f}  {hit.entry_id:32} {hit.passage.title}")


@app.command("eval")
def evaluate(
    questions: Annotated[
        Path, typer.Argument(help="JSON Lines file of labelled questions.")
    ] = REAL_QUESTIONS,
    show_misses: Annotated[
        bool, typer.Option("--misses", help="List the hybrid retriever's misses.")
    ] = False,
    fusion: Annotated[
        Fusion,
        typer.Option(help="How the signals combine: the fitted weights, or rank fusion."),
    ] = Fusion.weighted,
) -> None:
    """Print hit@1, hit@3, MRR and refusal rates per language and topic, for the hybrid
    retriever and the BM25-only and dense-only baselines; for a file with `dev` and `test`
    splits, both side by side, with the same questions under pasted `docker info` output,
    and a reliability table (confidence -> how often the first entry answers).

    Example: dockfaq eval --misses
    """
    from service import evaluation, ranking

    settings = _settings()
    try:
        cases = evaluation.load_cases(questions)
    except (DockfaqError, OSError) as exc:
        _fail(str(exc))
    retriever = _retriever(fusion.value)
    threshold = ranking.threshold(settings.confidence_threshold, retriever.model)
    typer.echo(f"{questions}: {len(cases)} questions, threshold {threshold:.2f}")
    typer.echo(evaluation.full_report(retriever, cases, threshold, show_misses))


@app.command()
def calibrate(
    questions: Annotated[
        list[Path], typer.Argument(help="Labelled questions to fit on (JSON Lines).")
    ] = [REAL_QUESTIONS, CLEAN_QUESTIONS],  # noqa: B006 - typer reads the default, never mutates it
) -> None:
    """Refit the ranking model (service/ranking.json): the ranker and the calibrator on the
    given questions (only the `dev` split of a file that has splits), the refusal threshold on
    the `dev` split of the real questions.

    Example: dockfaq calibrate
    """
    from service import calibrate as fitting
    from service import corpus, engine, evaluation, ranking

    settings = _settings()
    try:
        cases = [
            c for path in questions for c in evaluation.load_cases(path) if c.split in (None, "dev")
        ]
        threshold_cases = [c for c in cases if c.split == "dev"] or cases
        # Signals do not depend on the fitted weights: any model will do while fitting.
        retriever = engine.open_retriever(settings, ranker=ranking.Model.untrained())
        meta = {
            "fitted_on": [str(p) for p in questions],
            "questions": len(cases),
            "embedding_model": settings.embedding_model,
            "corpus_sha256": corpus.fingerprint(settings.corpus_dir),
        }
        model = fitting.fit(retriever, cases, threshold_cases, meta)
    except (DockfaqError, OSError) as exc:
        _fail(str(exc))
        return
    model.save()
    typer.echo(f"fitted on {len(cases)} questions; threshold {model.threshold:.2f}")
    typer.echo(f"wrote {ranking.PATH}")


@app.command()
def suggest(
    limit: Annotated[int, typer.Option(min=1, help="How many groups to show.")] = 20,
) -> None:
    """List what curators should look at: refused and low-confidence questions and thumbs-down
    answers from DOCKFAQ_DATA_DIR (or Redis), grouped by similarity, most frequent first; then
    the FAQ entries readers voted unhelpful on the page.

    Example: dockfaq suggest --limit 10
    """
    from service import conversations, engine, ranking
    from service import suggest as suggestions

    settings = _settings()
    try:
        store = conversations.open_store(
            settings.data_dir, settings.redis_url, settings.conversation_ttl
        )
        items = suggestions.candidates(store, ranking.threshold(settings.confidence_threshold))
        unhelpful = suggestions.unhelpful_entries(store)
        store.close()
        if not items and not unhelpful:
            typer.echo("nothing to review: no refused, low-confidence or thumbs-down questions")
            return
        groups = suggestions.group(items, engine.embedder(settings)) if items else []
    except DockfaqError as exc:
        _fail(str(exc))
    for n, g in enumerate(groups[:limit], start=1):
        reasons = ", ".join(f"{count} {reason}" for reason, count in g.reasons.most_common())
        answered = ", ".join(e for e, _ in g.entries.most_common(2)) or "-"
        typer.echo(f"{n}. {g.size} question(s) ({reasons}); answered with: {answered}")
        for question in list(dict.fromkeys(g.questions))[:3]:
            typer.echo(f"     {printable(question)}")
    if unhelpful:
        typer.echo("FAQ entries readers found unhelpful (the page's 'Was this helpful?'):")
    for votes in unhelpful[:limit]:
        typer.echo(f"  {votes.entry_id}: {votes.down} down, {votes.up} up")
        for comment in votes.comments[:3]:
            typer.echo(f"     {printable(comment)}")
