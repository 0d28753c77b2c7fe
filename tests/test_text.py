from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from service import text


@pytest.mark.parametrize(
    ("question", "language"),
    [
        ("docker pull 镜像好慢", "zh"),
        ("docker中镜像和容器的区别", "zh"),
        ("`docker run -it ubuntu` 之后怎么退出", "zh"),
        ("why does my container exit immediately", "en"),
        ("what does `echo 你好` print in a container", "en"),
        ("```\nRUN echo 中文\n```\nwhy does this RUN fail", "en"),
        ("ＤＯＣＫＥＲ　ｓａｖｅ", "en"),
        ("", "en"),
    ],
)
def test_detect_language(question: str, language: str) -> None:
    assert text.detect_language(question) == language


def test_tokenize_segments_chinese_and_drops_stopwords() -> None:
    tokens = text.tokenize("docker中镜像和容器的区别是什么？")
    assert {"docker", "镜像", "容器", "区别"} <= set(tokens)
    assert not {"的", "和", "是", "什么"} & set(tokens)


def test_tokenize_keeps_the_words_inside_chinese_compounds() -> None:
    # 不断重启 is one glossary word; the corpus may say 一直重启 or just 重启.
    assert {"不断重启", "重启"} <= set(text.tokenize("容器一直不断重启"))


def test_tokenize_normalises_english() -> None:
    tokens = text.tokenize("Why do my Containers EXIT?")
    assert "why" not in tokens and "my" not in tokens
    assert tokens == text.tokenize("container exits")  # case, plural and stopwords ignored


def test_tokenize_full_width_is_ascii() -> None:
    assert text.tokenize("ｄｏｃｋｅｒ　ｓａｖｅ") == text.tokenize("docker save")


def test_terms_find_commands_flags_codes_and_instructions() -> None:
    found = text.terms(
        "docker export vs docker image save; run with --user 1000, Exited (137); USER app"
    )
    assert {"docker export", "docker image save", "--user", "exit 137", "user"} <= found


def test_terms_ignore_ordinary_numbers() -> None:
    assert not any(t.startswith("exit") for t in text.terms("port 8080 and 2024 and 1.137"))


def test_strip_cjk_keeps_what_the_model_reads() -> None:
    assert text.strip_cjk("docker pull 镜像好慢 --platform") == "docker pull --platform"


def test_translate_renders_chinese_for_the_english_model() -> None:
    readable, share = text.translate("docker中镜像和容器的区别")
    assert readable == "docker image container difference" and share == 1.0
    readable, share = text.translate("2024年东南亚BCD功率集成电路市场")
    assert "2024" in readable and share < 0.3
    assert text.translate("why does it exit") == ("why does it exit", 1.0)


def test_translate_reads_a_compound_by_its_parts() -> None:
    assert "镜像文件" not in text.glossary()
    assert text.translate("离线的镜像文件") == ("offline image file", 1.0)


def test_phrases() -> None:
    assert "exec format error" in text.phrases("standard_init_linux.go: exec format error")


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("and how do I load it on the other machine?", True),
        ("what about files in a bind mount then?", True),
        ("那非root用户呢？", True),
        ("那怎么在另一台机器上导入", True),
        ("why", True),
        ("which one keeps the history?", True),
        ("两者哪个更小", True),
        ("它用 http 的话客户端报错怎么办", True),  # "it ...": what was named before
        ("why does my container exit immediately after docker run", False),
        ("how do I copy a file into it from the host", False),
        ("docker中镜像和容器的区别", False),
    ],
)
def test_looks_like_follow_up(question: str, expected: bool) -> None:
    assert text.looks_like_follow_up(question) is expected


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("what about files in a bind mount then?", True),
        ("How about docker export?", True),
        ("那 distroless 呢", True),
        ("那怎么在另一台机器上导入？", False),  # a follow-up, but not the same question again
        ("what is an image", False),
    ],
)
def test_asks_about_the_same(question: str, expected: bool) -> None:
    assert text.asks_about_the_same(question) is expected


def test_stems_that_are_stopwords_are_dropped() -> None:
    # Found by hypothesis (tests/test_properties.py): Snowball turns "ons" into "on".
    assert text.tokenize("ons aboutness") == []


@pytest.mark.parametrize(
    "post",
    [
        "why does my contianer exit right away",
        "加一个PUID的设置吧，不然权限总是乱",  # no space between the word and the Chinese
        "健康检查一直失败 怎么看具体报错",
        "npm ci fails\n```\nFROM node:20-alpine\nRUN npm ci\n```",  # the Dockerfile is pasted
        "where do i get the sha256 to put in FROM node:20@sha256",
        "what does ADD --unpack=true do",
        "app is Exited (137) after a minute",
        "--user 1000 gives me gid 0",
    ],
)
def test_names_docker(post: str) -> None:
    assert text.names_docker(post)


@pytest.mark.parametrize(
    "post",
    [
        "npm install -g fails with EACCES permission denied",
        "SELECT id FROM message GROUP BY name fails on MySQL 5.7",
        "Main process exited, code=exited, status=203/EXEC",
        "how to extend an LVM logical volume after adding a new disk",
        "定时任务手动可以执行，cron 里不执行 ![image](https://example.com/container.png)",
        "mysql -u root -p says access denied",
    ],
)
def test_does_not_name_docker(post: str) -> None:
    assert not text.names_docker(post)


def test_the_chinese_dictionary_loads_from_jiebas_cache_as_jieba_loads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import jieba

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ours = jieba.Tokenizer()
    text.load_dictionary(ours)
    assert not ours.initialized  # no cache yet: jieba's own initialize builds it
    theirs = jieba.Tokenizer()
    theirs.initialize()  # and writes its cache
    assert (tmp_path / "jieba.cache").is_file()
    text.load_dictionary(ours)
    assert ours.initialized
    assert ours.total == theirs.total and ours.FREQ == theirs.FREQ
    sentence = "容器启动后立即退出怎么办，基础镜像用什么"
    assert ours.lcut(sentence) == theirs.lcut(sentence)
    (tmp_path / "jieba.cache").write_bytes(b"\x00 not a dictionary")
    broken = jieba.Tokenizer()
    text.load_dictionary(broken)
    assert not broken.initialized
