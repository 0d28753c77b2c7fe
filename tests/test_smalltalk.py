"""Turns that are not questions get a short reply, never a search."""

from __future__ import annotations

import typing

import pytest

from service import smalltalk


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("thanks!", "thanks"),
        ("Thank you so much, that worked 🙏", "thanks"),
        ("ok thanks for the help", "thanks"),
        ("cool thx", "thanks"),
        ("好的，谢谢", "thanks"),
        ("收到，谢谢大佬", "thanks"),
        ("太棒了，解决了", "thanks"),
        ("hello", "greeting"),
        ("hi there!", "greeting"),
        ("你好", "greeting"),
        ("bye", "farewell"),
        ("who are you?", "about"),
        ("你能做什么", "about"),
        ("ok", "ack"),
        ("ok I'll try that", "ack"),
        ("好的我试试", "ack"),
        ("嗯嗯", "ack"),
        ("👍", "ack"),
        ("write me a poem", "request"),
        ("Write me a poem about containers", "request"),
        ("写一首诗", "request"),
        ("给我讲个笑话", "request"),
        ("that didn't work", "unhelped"),
        ("thanks but it didnt work", "unhelped"),
        ("still not working", "unhelped"),
        ("no, wrong answer", "unhelped"),
        ("Still getting the same error!", "unhelped"),
        ("this is not what I asked", "unhelped"),
        ("不对", "unhelped"),
        ("还是不行", "unhelped"),
        ("还是没解决", "unhelped"),
        ("hi there, I have a question", "greeting"),
        ("can you help me?", "greeting"),
        ("我有个问题", "greeting"),
        ("666", "ack"),
    ],
)
def test_small_talk_is_recognised(text: str, kind: str) -> None:
    assert smalltalk.kind(text) == kind


@pytest.mark.parametrize(
    "text",
    [
        "and how do I load it?",
        "那非root用户呢？",
        "ok but how do I load it",
        "thanks, but what about alpine?",
        "docker run still not working",
        "hi, how do I save an image?",
        "你好，docker怎么导出镜像",
        "help me with docker save",
        "why?",
        "为什么",
        "no it still exits",
        "is it right?",
        "不可以用 root 吗",
        "我",  # fillers alone
        "回答",
        "so",
    ],
)
def test_questions_are_not_small_talk(text: str) -> None:
    assert smalltalk.kind(text) is None


def test_replies_exist_in_both_languages() -> None:
    for kind in typing.get_args(smalltalk.Kind):
        assert smalltalk.reply(kind, "en") and smalltalk.reply(kind, "zh")
    assert "不客气" in smalltalk.reply("thanks", "zh")
    assert "docker logs" in smalltalk.reply("unhelped", "en")  # asks for what would help
