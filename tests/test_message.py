"""What a posted message asks, apart from the output it pastes."""

from __future__ import annotations

from pathlib import Path

import pytest

from service import message

PASTED = Path(__file__).parent / "eval" / "pasted"
QUESTION = "docker container exits immediately after starting, why?"


@pytest.mark.parametrize("sample", sorted(PASTED.glob("*.txt")), ids=lambda p: p.stem)
def test_pasted_system_output_is_not_asked(sample: Path) -> None:
    parsed = message.parse(f"{QUESTION}\n\n{sample.read_text(encoding='utf-8')}")
    assert parsed.asked == QUESTION and parsed.focus == QUESTION
    assert parsed.pasted


def test_error_lines_and_commands_survive_from_pasted_output() -> None:
    post = (
        "my container won't start\n"
        "```\n"
        "$ docker run -d --name web myapp:1.0\n"
        "2024-01-03T10:00:01Z INFO starting\n"
        "standard_init_linux.go:228: exec user process caused: exec format error\n"
        "```\n"
    )
    parsed = message.parse(post)
    assert parsed.asked == "my container won't start"
    assert parsed.errors == (
        "standard_init_linux.go:228: exec user process caused: exec format error",
    )
    assert parsed.commands == ("docker run -d --name web myapp:1.0",)
    assert "exec format error" in parsed.exact_text
    assert parsed.focus.endswith("exec format error")  # often the post's real question


STORY = (
    "I have been using this project for about two years on my home server and I really like "
    "it, it has been stable the whole time and the community here has been great to me. "
)


def test_a_long_post_is_searched_by_its_asking_sentences() -> None:
    post = (
        "Data gone after docker compose down\n"
        + STORY * 6
        + "After running docker compose down and up again, all my settings are gone. "
        "Thanks in advance for any help. "
        "How do I keep the data when the container is recreated?"
    )
    focus = message.parse(post).focus.splitlines()
    assert focus[0] == "Data gone after docker compose down"
    assert any("settings are gone" in line for line in focus)
    assert any(line.startswith("How do I keep the data") for line in focus)
    assert not any("two years" in line or "Thanks" in line for line in focus)


def test_a_shorter_post_keeps_its_story_but_not_its_chatter() -> None:
    post = (
        "Data gone after docker compose down\n"
        + STORY
        + "Thanks in advance for any help. After docker compose down and up, my settings are gone."
    )
    focus = message.parse(post).focus
    assert "two years" in focus and "settings are gone" in focus
    assert "Thanks in advance" not in focus


def test_issue_template_lines_are_not_searched() -> None:
    post = (
        "[BUG] container keeps restarting\n"
        "### Describe the bug\n"
        "- [x] I have searched the existing issues\n"
        "**What happened**:\n"
        "The container restarts every few seconds with exit code 1."
    )
    assert message.parse(post).asked == (
        "[BUG] container keeps restarting\n"
        "The container restarts every few seconds with exit code 1."
    )


def test_a_short_question_is_searched_whole() -> None:
    parsed = message.parse("docker save vs docker export?")
    assert parsed.focus == parsed.asked == "docker save vs docker export?"
    assert not parsed.pasted and parsed.title == ""


def test_chinese_prose_stays_and_pasted_log_goes() -> None:
    post = "容器启动后马上退出\n执行 docker ps -a 看到 Exited (1)\n" + (
        PASTED / "docker-version.txt"
    ).read_text(encoding="utf-8")
    parsed = message.parse(post)
    assert parsed.asked == "容器启动后马上退出\n执行 docker ps -a 看到 Exited (1)"
    assert parsed.title == "容器启动后马上退出"


def test_a_message_of_nothing_but_output_is_searched_as_it_is() -> None:
    log = "Error response from daemon: pull access denied for foo, repository does not exist"
    assert message.parse(log).asked == log


@pytest.mark.parametrize(
    ("posted", "searched"),
    [
        (
            "awesome thanks, one more thing: how do I run it as non-root?",
            "how do I run it as non-root?",
        ),
        ("ok, so: docker save vs export?", "docker save vs export?"),
        ("好的，另外：怎么以非root用户运行容器", "怎么以非root用户运行容器"),
        (
            "docker run -p 80:80, why permission denied",
            "docker run -p 80:80, why permission denied",
        ),
        ("hello", "hello"),
    ],
)
def test_small_talk_opening_a_question_is_not_searched(posted: str, searched: str) -> None:
    assert message.parse(posted).focus == searched
