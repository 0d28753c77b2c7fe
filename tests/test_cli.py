from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service import engine
from service.cli import app
from service.settings import Settings
from tests.conftest import CORPUS, FakeEmbedder

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the corpus and an empty index directory, with the fake embedder."""
    shutil.copytree(CORPUS, tmp_path / "corpus")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DOCKFAQ_EMBEDDING_MODEL", "fake-hash")
    monkeypatch.setattr(engine, "embedder", lambda settings: FakeEmbedder())
    return tmp_path


def test_build_then_up_to_date(env: Path) -> None:
    result = runner.invoke(app, ["build"])
    assert result.exit_code == 0, result.output
    assert "built index" in result.output and (env / "index" / "manifest.json").is_file()
    again = runner.invoke(app, ["build", "--if-stale"])
    assert again.exit_code == 0 and "up to date" in again.output


def test_build_with_broken_corpus_fails_and_keeps_index(env: Path) -> None:
    assert runner.invoke(app, ["build"]).exit_code == 0
    manifest = (env / "index" / "manifest.json").read_bytes()
    broken = env / "corpus" / "non-root" / "user-flag.md"
    broken.write_text(broken.read_text().replace("---\n", "---\ntitle: [oops\n", 1))
    result = runner.invoke(app, ["build"])
    assert result.exit_code == 1
    assert "user-flag.md" in result.output and "invalid YAML" in result.output
    assert (env / "index" / "manifest.json").read_bytes() == manifest


def test_ask_prints_answer_and_citations(env: Path) -> None:
    result = runner.invoke(app, ["ask", "docker中镜像和容器的区别"])
    assert result.exit_code == 0, result.output
    assert "[1]" in result.output and "image-vs-container" in result.output


def test_ask_json(env: Path) -> None:
    result = runner.invoke(app, ["ask", "--json", "docker save vs docker export"])
    body = json.loads(result.output)
    assert body["citations"][0]["id"] == "save-vs-export"


def test_search_lists_entries(env: Path) -> None:
    result = runner.invoke(app, ["search", "docker save", "-k", "2"])
    assert result.exit_code == 0 and len(result.output.strip().splitlines()) == 2


def test_eval_reports_metrics(env: Path) -> None:
    questions = env / "q.jsonl"
    questions.write_text(
        '{"q": "docker中镜像和容器的区别", "lang": "zh", "topic": "image-vs-container", '
        '"expect": "image-vs-container"}\n{"q": "天气预报", "lang": "zh", "expect": null}\n'
    )
    result = runner.invoke(app, ["eval", str(questions)])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "zh   image-vs-container" in line)
    assert row.split()[3:5] == ["|", "1.000"]  # n=1, hybrid hit@1
    assert (
        "declined refused" in result.output
        and "off-topic: refused" in result.output
        and "== reliability" in result.output
    )
    assert all(mode in result.output for mode in ("hybrid", "bm25", "dense"))


def test_eval_shows_dev_and_test_side_by_side(env: Path) -> None:
    questions = env / "q.jsonl"
    lines = [
        {
            "q": "docker save vs docker export",
            "lang": "en",
            "topic": "save-load-export-import",
            "expect": "save-vs-export",
            "split": "dev",
        },
        {
            "q": "docker中镜像和容器的区别",
            "lang": "zh",
            "topic": "image-vs-container",
            "expect": "image-vs-container",
            "split": "test",
        },
        {
            "q": "thanks!",
            "lang": "en",
            "kind": "small-talk",
            "split": "test",
            "context": ["docker save vs docker export"],
        },
    ]
    questions.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    result = runner.invoke(app, ["eval", str(questions)])
    assert result.exit_code == 0, result.output
    assert "== dev (1 questions)" in result.output and "== test (2 questions)" in result.output
    header = next(line for line in result.output.splitlines() if line.startswith("measure"))
    assert header.split()[-2:] == ["dev", "test"]
    small_talk = next(line for line in result.output.splitlines() if line.startswith("small"))
    assert small_talk.split()[-2:] == ["0/0", "0/1"]


def test_eval_rejects_malformed_file(env: Path) -> None:
    questions = env / "q.jsonl"
    questions.write_text('{"q": "no language"}\n')
    result = runner.invoke(app, ["eval", str(questions)])
    assert result.exit_code == 1 and "q.jsonl:1" in result.output


def test_bad_setting_is_a_clear_error(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKFAQ_CONFIDENCE_THRESHOLD", "2")
    result = runner.invoke(app, ["search", "docker"])
    assert result.exit_code == 1 and "DOCKFAQ_CONFIDENCE_THRESHOLD" in result.output


def test_every_bad_setting_gets_one_line(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKFAQ_API_KEYS", "k1")
    monkeypatch.setenv("DOCKFAQ_SLACK_SIGNING_SECRET", " ")
    result = runner.invoke(app, ["search", "docker"])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 2, result.output
    assert lines[0].startswith("error: invalid setting DOCKFAQ_API_KEYS: a key of 2 characters")
    assert lines[1].startswith("error: invalid setting DOCKFAQ_SLACK_SIGNING_SECRET: is only")


def test_empty_threshold_means_the_fitted_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKFAQ_CONFIDENCE_THRESHOLD", " ")
    assert Settings().confidence_threshold is None
    monkeypatch.setenv("DOCKFAQ_CONFIDENCE_THRESHOLD", "0.5")
    assert Settings().confidence_threshold == 0.5


def test_serve_refuses_an_unusable_data_dir(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (env / "not-a-dir").write_text("a file where the data directory should be")
    monkeypatch.setenv("DOCKFAQ_DATA_DIR", str(env / "not-a-dir" / "data"))
    result = runner.invoke(app, ["serve", "--port", "8999"])
    assert result.exit_code == 1 and "conversation database" in result.output


def test_serve_outside_the_project_says_where_the_corpus_was_looked_for(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Started from another directory with DOCKFAQ_INDEX_DIR set: it once listened, said
    "loading" on /readyz for ever, and logged nothing."""
    elsewhere = env / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("DOCKFAQ_INDEX_DIR", str(env / "index"))
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: pytest.fail("it served"))
    result = runner.invoke(app, ["serve", "--port", "8999"])
    assert result.exit_code == 1
    assert f"{elsewhere / 'corpus'}: no corpus directory there" in result.output
    assert "DOCKFAQ_CORPUS_DIR" in result.output


@pytest.mark.parametrize(
    ("environment", "served"),
    [
        ({}, "workers"),  # one per core
        ({"DOCKFAQ_WORKERS": "1"}, "one"),
        ({"DOCKFAQ_RATE_LIMIT": "60/minute"}, "one"),  # counted in memory: one process
        ({"DOCKFAQ_RATE_LIMIT": "60/minute", "DOCKFAQ_REDIS_URL": "redis://x:1"}, "workers"),
    ],
)
def test_serve_runs_one_worker_per_core_unless_limits_live_in_memory(
    env: Path, monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], served: str
) -> None:
    from service import conversations, supervisor

    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    class Unused:  # Redis is not reached in this test
        def close(self) -> None:
            pass

    monkeypatch.setattr(conversations, "open_store", lambda *args: Unused())
    runs: list[object] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **options: runs.append("one"))
    monkeypatch.setattr(supervisor, "serve", lambda settings, count, options: runs.append(count))
    assert runner.invoke(app, ["build"]).exit_code == 0
    result = runner.invoke(app, ["serve", "--port", "8999"])
    assert result.exit_code == 0, result.output
    assert runs == (["one"] if served == "one" else [len(os.sched_getaffinity(0))])
    if "DOCKFAQ_RATE_LIMIT" in environment and served == "one":
        assert "one worker: the rate limits are counted in memory" in result.output


def test_serve_refuses_workers_that_would_each_count_the_rate_limit(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKFAQ_RATE_LIMIT", "60/minute")
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: pytest.fail("it served"))
    assert runner.invoke(app, ["build"]).exit_code == 0
    result = runner.invoke(app, ["serve", "--workers", "2"])
    assert result.exit_code == 1
    assert "2 workers would each count the rate limits on their own" in result.output
    assert "DOCKFAQ_REDIS_URL" in result.output


def test_a_half_configured_platform_stops_start_up(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKFAQ_FEISHU_APP_ID", "cli_a1b2")
    result = runner.invoke(app, ["search", "docker"])
    assert result.exit_code == 1
    assert result.output.strip() == (
        "error: Feishu is half configured: DOCKFAQ_FEISHU_APP_SECRET and "
        "DOCKFAQ_FEISHU_VERIFICATION_TOKEN are empty: set all of DOCKFAQ_FEISHU_APP_ID, "
        "DOCKFAQ_FEISHU_APP_SECRET, DOCKFAQ_FEISHU_VERIFICATION_TOKEN, or none"
    )


@pytest.mark.parametrize(
    ("onnx", "quantize", "encoder"),
    [
        ("false", None, "torch"),
        ("true", "false", "float32"),
        ("1", "1", "int8"),
        (None, "0", "float32"),
    ],
)
def test_the_old_encoder_switches_are_read_with_a_warning(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    onnx: str | None,
    quantize: str | None,
    encoder: str,
) -> None:
    for name, value in (("DOCKFAQ_ONNX", onnx), ("DOCKFAQ_QUANTIZE", quantize)):
        if value is not None:
            monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.encoder == encoder and settings.onnx is settings.quantize is None
    assert f"DOCKFAQ_ENCODER={encoder}" in caplog.text


def test_the_encoder_setting_wins_and_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKFAQ_ONNX", "false")
    monkeypatch.setenv("DOCKFAQ_ENCODER", "float32")
    assert Settings().encoder == "float32"
    monkeypatch.setenv("DOCKFAQ_ENCODER", "int4")
    result = runner.invoke(app, ["search", "docker"])
    assert result.exit_code == 1 and "DOCKFAQ_ENCODER" in result.output
