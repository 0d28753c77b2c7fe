"""Language detection, normalisation, tokenisation and technical-term extraction."""

from __future__ import annotations

import functools
import hashlib
import logging
import marshal
import re
import tempfile
import unicodedata
from pathlib import Path
from typing import Any, Literal

Language = Literal["en", "zh"]  # the languages dockfaq answers in

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_CODE = re.compile(r"```.*?(?:```|$)|`[^`\n]*`", re.DOTALL)
_WORD = re.compile(r"[a-z0-9]+")

# Words that say nothing about which entry answers a question.
EN_STOPWORDS = frozenset(
    """a about above after again all am an and any are as at be because been
    before being below between both but by can could did do does doing done down during
    each few for from further get gets got had has have having he her here hers
    him his how i if in into is it its itself just let me more most
    my myself no nor not now of off on once only or other our ours out
    over own same she should so some such than that the their theirs them then there
    these they this those through to too under until up very was we were what when
    where which while who whom why will with would you your yours yourself please thanks thank
    hi hello anyone someone way ways use using used want need help tell know question""".split()
)
ZH_STOPWORDS = frozenset(
    """的 了 吗 呢 啊 吧 呀 嘛 是 在 和 与 及 或 我 你 他 她 它 我们 你们 他们 这 那 这个 那个
    这些 那些 有 没 没有 怎么 怎么办 怎样 如何 什么 为什么 为何 哪 哪个 一个 一下 中 里 上
    下 用 会 要 能 可以 请问 请 就 都 也 还 又 很 太 好 把 被 让 给 对 从 到 时 时候 后
    之后 以后 一直 总是 问题 求助 大家 谁 知道 一 个 着 过 地 得 么 该 应该 想 需要 使用
    然后 但是 如果 那么 所以 怎么样 怎么回事 怎么做 行不行 能不能 可不可以 是不是 有没有
    一些 哪些 还是 或者 而且 自己 东西 现在 今天 这样 那样 这么 比如 例如 已经 不 不是 不能
    不会 啦 哦 呗 啥 咋 咋办 搞 弄 一样 具体 到底 其实 只 只是 只能 新手 小白 求 大神 各位
    感谢 谢谢 做 办 回事 情况 你好 您好 多谢 麻烦 帮忙 看看 最近 这几天 几天 所有 原因 发现
    出现 遇到 突然 每次 尝试 试过 非常 一切""".split()
)

# Words (as tokenize() spells them) of the subjects next to dockfaq's that it does not cover:
# Swarm, Kubernetes, container networking and firewalls, Docker Desktop on WSL/Hyper-V, GPUs.
# The corpus mentions some in passing; the calibrator learns how much they count.
ELSEWHERE_WORDS = frozenset(
    """swarm kubectl kubelet k8s pod helm minikub kubeadm clusterip nodeport ingress cni calico
    flannel istio coredn statefulset daemonset replicaset configmap iptabl nftabl ufw firewalld
    firewal dns ping macvlan ipvlan network cpu wsl wsl2 hyper nvidia gpu cuda
    集群 节点 防火墙 显卡 域名解析 负载 均衡 跨主机""".split()
)

_DOCKERFILE_INSTRUCTIONS = (
    "FROM RUN CMD ENTRYPOINT USER COPY ADD HEALTHCHECK EXPOSE "
    "VOLUME WORKDIR ENV ARG ONBUILD STOPSIGNAL SHELL LABEL"
).split()
_SUBCOMMAND_GROUPS = "image|container|system|volume|network|builder|buildx|compose|context|manifest"
_TERM_PATTERNS = (
    # docker commands, with an optional management group: "docker save", "docker image prune"
    re.compile(rf"\bdocker(?:\s+(?:{_SUBCOMMAND_GROUPS}))?\s+[a-z][a-z-]+"),
    re.compile(r"(?<![\w-])--[a-z][a-z0-9-]+"),  # long flags: --user, --change
    re.compile(r"\b(?:daemon\.json|\.dockerignore|dockerfile|/etc/passwd|/dev/null|pid 1)\b"),
)
_EXIT_CODE = re.compile(r"(?<![\d.:/-])(12[5-7]|13[0-9]|14[0-3]|255)(?!\.?\d|[:/])")
_INSTRUCTION = re.compile(r"\b(" + "|".join(_DOCKERFILE_INSTRUCTIONS) + r")\b")


# Bump when tokenisation changes in a way that makes built indexes stale.
TOKENIZER_REVISION = 6


def signature() -> str:
    """Identifies the tokeniser (code revision + glossary) that an index was built with."""
    glossary_bytes = (Path(__file__).parent / "glossary.tsv").read_bytes()
    return f"{TOKENIZER_REVISION}-{hashlib.sha256(glossary_bytes).hexdigest()[:12]}"


def normalize(text: str) -> str:
    """NFKC (full-width to ASCII), lower case, curly quotes made straight."""
    text = unicodedata.normalize("NFKC", text)
    return text.replace("\u2018", "'").replace("\u2019", "'").lower()


def has_cjk(text: str) -> bool:
    return bool(_CJK.search(text))


def detect_language(text: str) -> Language:
    """'zh' when any Chinese is written outside code spans and blocks, else 'en'."""
    return "zh" if has_cjk(_CODE.sub(" ", text)) else "en"


def strip_cjk(text: str) -> str:
    """The question with its Chinese removed."""
    return " ".join(_CJK_RUN.sub(" ", text).split())


def translate(text: str) -> tuple[str, float]:
    """What an English embedding model can read of a question: Chinese words that the glossary
    knows become their English terms, the rest of the Chinese is dropped. Also returns the share
    of the question's meaningful words that survived (0..1)."""
    words: list[str] = []
    kept = total = 0
    position = 0
    for run in _CJK_RUN.finditer(text):
        words.append(text[position : run.start()])
        for token in _chinese_tokens(run.group()):
            total += 1
            english = glossary().get(token) or _parts_in_glossary(token)
            if english:
                kept += 1
                words.append(english)
        position = run.end()
    words.append(text[position:])
    latin = _latin_tokens(strip_cjk(text))
    total += len(latin)
    kept += len(latin)
    return " ".join(" ".join(words).split()), (kept / total if total else 0.0)


def tokenize(text: str) -> list[str]:
    """BM25 tokens: jieba for Chinese runs, stemmed lower-case words for the rest, no stopwords."""
    text = normalize(text)
    tokens: list[str] = []
    position = 0
    for run in _CJK_RUN.finditer(text):
        tokens.extend(_latin_tokens(text[position : run.start()]))
        tokens.extend(_chinese_search_tokens(run.group()))
        position = run.end()
    tokens.extend(_latin_tokens(text[position:]))
    return tokens


def _latin_tokens(text: str) -> list[str]:
    words = [w for w in _WORD.findall(text) if w not in EN_STOPWORDS]
    # A stem can be a stopword too ("ons" -> "on", "aboutness" -> "about"): dropped as well.
    stems = _stemmer().stemWords(words) if words else []
    return [s for s in stems if s not in EN_STOPWORDS]


def _chinese_tokens(run: str) -> list[str]:
    return [w for w in _jieba().lcut(run) if w.strip() and w not in ZH_STOPWORDS]


def _chinese_search_tokens(run: str) -> list[str]:
    """Words and the shorter words inside them (不断重启 -> 不断, 重启, 不断重启), so that one
    compound in a question still meets another compound of the same root in the corpus."""
    return [w for w in _jieba().cut_for_search(run) if w.strip() and w not in ZH_STOPWORDS]


def _parts_in_glossary(word: str) -> str:
    """English for the pieces of a compound the glossary does not hold (镜像文件 -> image file)."""
    parts = [p for p in _jieba().cut_for_search(word) if p != word]
    return " ".join(glossary()[p] for p in parts if p in glossary())


def terms(text: str) -> set[str]:
    """Exact technical terms: docker commands, long flags, exit codes, Dockerfile instructions,
    and the contents of quoted or back-ticked strings (error messages)."""
    found = {_squash(m.group()) for p in _TERM_PATTERNS for m in p.finditer(normalize(text))}
    found |= {f"exit {m.group(1)}" for m in _EXIT_CODE.finditer(text)}
    found |= {m.group(1).lower() for m in _INSTRUCTION.finditer(text)}
    return found


# What a post about Docker shows somewhere, pasted output included, in the words people use:
# the tools, their objects and errors, Dockerfile lines and `docker run` flags. Links and
# Markdown images are left out first ("![image](https://…)" says nothing). English words are
# bounded by anything but a letter or digit, so "PUID" counts in "加一个PUID的设置".
_DOCKER_WORDS = re.compile(
    r"""(?<![a-z0-9_])(?:
      docker\w* | containers? | contianer | images? | imgae | compose | registr\w* | podman
    | containerd | buildkit\w* | buildx | kubernetes | k8s | pods? | alpine\w* | distroless
    | entrypoint | exec\ format\ error | oci | runc | ghcr\.io | quay\.io | harbor | moby
    | kitematic | skopeo | bind[\ -]?mount\w* | named\ volume | (?<!logical\ )volumes? | layers?
    | multi-?stage | builder\ stage | slim | rootless | subuid | subgid | dockremap | userns
    | user\ namespace | puid | pgid | unraid | synology | healthcheck | unhealthy | depends_on
    | stop_grace_period | certs\.d | logging\ driver | manifest | tini | gosu
    | nginx-unprivileged | dind | sha256: | pull\ rate\ limit | toomanyrequests
    | exited\ ?\(\d+\) | exited\ with\ code | garbage-collect | system\ df | --network
    | --cache-(?:to|from) | pid\ 1 | crlf | non-?root | port\ is\ already\ allocated
    | (?:save|export|load|import)\W+(?:vs|or|and)\W+(?:from\ )?(?:save|export|load|import)
    )(?![a-z0-9_])""",
    re.IGNORECASE | re.VERBOSE,
)
# Chinese words have no spaces around them: they are matched anywhere.
_DOCKER_WORDS_ZH = re.compile(
    "容器|镜像|宿主机|多阶段|数据卷|命名卷|群晖|内网部署|离线|健康检查|私有仓库|分层|每一层|所有层"
    r"|非\s*root|(?:save|export|load|import)\s*(?:和|还是|与|跟)\s*(?:save|export|load|import)"
)
_DOCKER_SYNTAX = re.compile(
    r"""^\s*FROM\s+\S+(?:\s+AS\s+\S+)?\s*$
    | ^\s*(?:RUN|CMD|COPY|ADD|USER|WORKDIR|ARG|ENV|EXPOSE|VOLUME|HEALTHCHECK|ONBUILD)\s
    | \b(?:RUN|COPY|ARG|CMD|WORKDIR)\b(?!\s*\w*:)
    | \bFROM\s+[\w./-]+[:@]\w | \bFROM\b(?=\s*[^\x00-\x7f]) | \b(?:ADD|COPY)\s+--
    | (?:--user|\s-u)\s+(?:\d|\$) | --privileged | --read-only | --restart | --stop-timeout
    | --group-add | --cap-(?:add|drop) | \s-p\s+\d+:\d+ | \s-it\b | \s-t\b | \btty\b""",
    re.MULTILINE | re.VERBOSE,
)
_LINK = re.compile(r"!\[[^\]]*\]\([^)]*\)|https?://\S+")


def names_docker(post: str) -> bool:
    """Whether anything in a post, pasted output included, is Docker's."""
    post = _LINK.sub(" ", post)
    return any(p.search(post) for p in (_DOCKER_WORDS, _DOCKER_WORDS_ZH, _DOCKER_SYNTAX))


# Openings and endings that only make sense after an earlier question. Pronouns alone ("it",
# "that") are not enough: self-contained questions use them all the time.
_FOLLOW_UP = re.compile(
    r"^(?:(?:ok|okay|thanks|thx|great|cool|nice|got it)\W+)?"
    r"(and|but|so|then|also|what about|how about|what if|same)\b"
    r"|\b(then|instead)\W*$"
    # A choice between things named before: "which one keeps the history?"
    r"|\b(which one|either one|both of them|the other one|the former|the latter)\b"
    r"|^(那|那么|还有|然后|另外|同样|它)|呢\W*$|刚才|上面(说|的)|前面(说|的)|哪一个|两者|这俩"
)


def _plain(message: str) -> str:
    """A message's words as the follow-up patterns read them: code out, normalised, trimmed."""
    return normalize(_CODE.sub(" ", message)).strip()


# "What about X?", "那 X 呢？": the previous question again, asked about X.
_SAME_QUESTION = re.compile(
    r"^(?:what|how) about\b|^(?:and )?what if\b|^(?:那|那么|那如果).*呢\W*$"
)


def asks_about_the_same(question: str) -> bool:
    """Whether a message repeats the previous question about something else."""
    return bool(_SAME_QUESTION.search(_plain(question)))


def looks_like_follow_up(question: str) -> bool:
    """Whether a question leans on what came before ("and how do I load it?", "那非root呢？")."""
    plain = _plain(question)
    return bool(_FOLLOW_UP.search(plain)) or len(tokenize(plain)) <= 2


# Prefixes that Docker puts in front of many different errors: as exact terms they would tie a
# GPU driver error to whichever entry quotes "Error response from daemon" for something else.
_BOILERPLATE = re.compile(
    r"(?:docker: )?error response from daemon:?|oci runtime (?:create|exec|start) failed:?"
    r"|[\w/]*_linux\.go:\d+:?|(?:unable to start|starting) container process(?: caused)?:?"
    r"|exec user process caused:?|failed to create shim task:?|error during connect:?"
)


def phrases(text: str, n: int = 3) -> set[str]:
    """Word n-grams of the English part, for matching error messages typed verbatim.

    An n-gram that starts or ends with a stopword ("how do i") says nothing and is skipped, and
    so is Docker's boilerplate in front of errors ("Error response from daemon").
    """
    words = _WORD.findall(_BOILERPLATE.sub(" | ", normalize(text)))
    grams = (words[i : i + n] for i in range(len(words) - n + 1))
    return {" ".join(g) for g in grams if g[0] not in EN_STOPWORDS and g[-1] not in EN_STOPWORDS}


def _squash(term: str) -> str:
    return " ".join(term.split())


@functools.cache
def _stemmer() -> Any:
    import Stemmer  # PyStemmer: Snowball stemmers in C

    return Stemmer.Stemmer("english")


def load_dictionary(tokenizer: Any) -> None:
    """Load a jieba tokenizer's default dictionary from the cache jieba keeps, as
    ``initialize`` does, but faster: ``initialize`` reads it with ``marshal.load`` on the file,
    which reads it in small pieces (0.57 s here, against 0.17 s for ``marshal.loads`` on its
    bytes), and every worker's start-up waits for it. Does nothing when there is no readable
    cache, or the tokenizer has another dictionary or cache location: ``initialize`` does it."""
    if tokenizer.initialized or tokenizer.dictionary is not None:  # jieba.DEFAULT_DICT
        return
    if tokenizer.cache_file or tokenizer.tmp_dir:
        return
    try:
        freq, total = marshal.loads((Path(tempfile.gettempdir()) / "jieba.cache").read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return
    if not isinstance(freq, dict) or not isinstance(total, int):
        return
    with tokenizer.lock:
        tokenizer.FREQ, tokenizer.total, tokenizer.initialized = freq, total, True


@functools.cache
def glossary() -> dict[str, str]:
    """Chinese -> English Docker vocabulary (service/glossary.tsv)."""
    pairs = {}
    for line in (Path(__file__).parent / "glossary.tsv").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            chinese, english = line.split("\t")
            pairs[chinese.strip()] = english.strip()
    return pairs


@functools.cache
def _jieba() -> Any:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    load_dictionary(jieba.dt)
    jieba.initialize()  # builds the dictionary (and its cache) when load_dictionary could not
    for word in glossary():
        if len(word) > 1:
            jieba.add_word(word)  # keep domain terms such as 基础镜像 in one piece
    return jieba
