"""What a posted message asks, apart from what it pastes (logs, command output, code).

Real questions arrive as forum posts: a title, a story, fifteen lines of `docker info`, a stack
trace, "thanks in advance". Retrieval should read the sentences that ask something; pasted
output only lends its error lines (as exact terms) and the docker commands the user ran.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from service import smalltalk, text

# The embedding model reads a text's first 256 word pieces (about 150 English words): a post
# longer than that is searched by its title and the sentences that ask something or state a
# problem, so that they are not cut off. Shorter posts keep their story: on the real-question
# `dev` set, selecting sentences in posts of 40+ words cost 2 points of hit@1.
FOCUS_ABOVE_WORDS = 150
FOCUS_ABOVE_CJK = 300
# Error lines taken from pasted output: the first few say what failed; the rest repeat it.
MAX_ERROR_LINES = 4

_FENCE = re.compile(r"^\s*(```|~~~)")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_WORDS = re.compile(r"[A-Za-z]+(?:'[a-z]+)?")
# A word as people write it: letters only (hashes, versions and paths are not words).
_PLAIN_WORD = re.compile(r"[(\"'`]*([A-Za-z]+(?:'[a-z]+)?)[)\"'`.,!?;:]*")
_PROMPT = re.compile(
    r"^\s*(?:[$#>%]\s|PS [A-Z]:\\.*?>|[\w.-]+@[\w.-]+(?::\S*)?[$#]|C:\\.*?>|>>>|\.\.\.\s)"
)
_LOG = re.compile(
    r"^\s*(?:\[?\d{4}[-/]\d\d[-/]\d\d|\[?\d\d:\d\d:\d\d|\[\s*\d+\.\d+\]|#\d+ \[|#\d+ \d+\.\d"
    r"|(?:INFO|WARN|WARNING|ERRO|ERROR|DEBU|DEBUG|FATA|FATAL|TRACE|NOTICE)\b[\[:\s]"
    r"|time=\"|level=|Step \d+/\d+|--->|=> |Traceback|File \"|at [\w$.]+\(|Caused by:"
    r"|\w+Error:|\w+Exception\b|goroutine \d+|panic:|npm ERR!|E: |W: |Err:\d|Get:\d|Hit:\d)"
)
# "Storage Driver: overlay2", " API version:  1.43", "Mem:  15Gi": a label, a colon, a value.
_KEY_VALUE = re.compile(r"^\s*[\w][\w ./()-]{0,40}:\s*(?:\S.{0,80})?$")
_TABLE = re.compile(r"\S(?: {2,}|\t)\S.*\S(?: {2,}|\t)\S")
_INSTRUCTION = re.compile(
    r"^\s*(?:FROM|RUN|CMD|ENTRYPOINT|COPY|ADD|ENV|ARG|WORKDIR|USER|EXPOSE|VOLUME|LABEL"
    r"|HEALTHCHECK|SHELL|STOPSIGNAL|ONBUILD)\s+\S"
)
_YAML = re.compile(r"^\s+(?:- \S|[\w.-]+:(?:\s|$))")
_ERROR = re.compile(
    r"error|fail|denied|not found|no such|cannot|can't|unable|invalid|refused|exited|killed"
    r"|fatal|panic|timed? ?out|unauthori[sz]ed|forbidden|exception|not permitted|oci runtime"
    r"|exec format|permission|manifest unknown|toomanyrequests|no space left|错误|失败|拒绝|无法",
    re.IGNORECASE,
)
_SUBCOMMANDS = (
    "attach|build|builder|buildx|commit|compose|container|context|cp|create|diff|events|exec|export"
    "|history|image|images|import|info|inspect|kill|load|login|logout|logs|manifest|network|pause"
    "|port|ps|pull|push|rename|restart|rm|rmi|run|save|scout|search|start|stats|stop|system|tag"
    "|top|unpause|update|version|volume|wait|up|down"
)
_DOCKER_COMMAND = re.compile(
    rf"\b(?:sudo\s+)?(docker(?:-compose)?\s+(?:{_SUBCOMMANDS})\b.*)$", re.IGNORECASE
)

_SENTENCE_END = re.compile(r"(?<=[.!?。！？；;])\s+|(?<=[。！？；])|\n+")
_ASKS = re.compile(
    r"[?？]|^\s*(?:how|why|what|is (?:it|there)|can|could|should|does|do (?:i|you)"
    r"|any ?(?:one|body|idea|way))\b"
    r"|怎么|如何|为什么|为啥|怎样|咋|能否|是否|可否|能不能|可不可以|有没有|什么|哪|吗|呢|求|请问",
    re.IGNORECASE,
)
_PROBLEM = re.compile(
    r"\b(?:error|errors|fail(?:s|ed|ing)?|not work(?:ing)?|doesn'?t|don'?t|won'?t|can'?t|cannot"
    r"|unable|exit(?:s|ed)?|stops?|crash(?:es|ed)?|denied|missing|lost|disappear\w*|instead"
    r"|problem|issue|wrong|broken|stuck|keeps?|empty|nothing|gone|but)\b"
    r"|报错|失败|不行|无法|不能|退出|出错|错误|异常|不了|没有|丢失|不见|一直|卡住|问题",
    re.IGNORECASE,
)
# Lines of issue templates: headings, check lists, bold labels ("**What happened**:").
_TEMPLATE = re.compile(
    r"^\s*(?:#{1,6}\s|[-*]\s+\[[ xX+]?\]|\*\*[^*]{1,60}\*\*:?\s*$|<!--|-->|[-=_*]{3,}\s*$"
    r"|(?:output of|steps to reproduce|expected (?:behaviou?r|result)|actual (?:behaviou?r|result)"
    r"|describe the (?:bug|results?)|additional (?:information|context)|to reproduce"
    r"|environment|reproduction steps|what happened|what you expected)\b[^.?!]{0,40}:?\s*$"
    r"|(?:问题描述|复现步骤|期望(?:结果|行为)|实际(?:结果|行为)|环境信息|补充说明|其他信息)\s*[:：]?\s*$)",
    re.IGNORECASE,
)
# Where a sentence's opening clause ends ("ok thanks, ...", "one more thing: ...").
_CLAUSE_END = re.compile(r"\s*(?:[,:;，：；]|\s[-–—]+)\s*")
# Openers that announce a question without asking it.
_OPENER = re.compile(
    r"(?:ok(?:ay)?|so|and|also|btw|by the way|anyway|oh|well|one more (?:thing|question)"
    r"|another (?:thing|question)|(?:a )?quick question|follow[- ]?up(?: question)?"
    r"|next question|last question|new question|sorry)"
    r"|(?:然后|另外|还有|还有一个问题|还有个问题|再问一下|再问下|顺便问一下|顺便问下|问一下|请问)",
    re.IGNORECASE,
)
# Sentences that carry no question: greetings, thanks, apologies, self-introductions.
_CHATTER = re.compile(
    r"^\s*(?:hi|hello|hey|dear|thanks?|thank you|thx|cheers|regards|any help|help is|please help"
    r"|i(?:'m| am) (?:new|a beginner|a newbie)|sorry|edit|update)\b"
    r"|^\s*(?:谢谢|感谢|多谢|先谢|大家好|各位|求大神|小白|新手|萌新|麻烦)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Message:
    """A posted message, split into what it asks and what it pastes."""

    raw: str
    asked: str  # the user's own prose, pasted blocks removed
    focus: str  # what to search: the asking sentences of a long post, else all the prose
    errors: tuple[str, ...]  # error lines from the pasted output, first few
    commands: tuple[str, ...]  # docker commands the user shows having run

    @property
    def title(self) -> str:
        """A post's first line when more follows (its title); empty for a one-line question."""
        first, _, rest = self.asked.partition("\n")
        return first if rest.strip() else ""

    @property
    def pasted(self) -> bool:
        return self.asked != self.raw.strip()

    @property
    def exact_text(self) -> str:
        """The text that exact terms are read from: the prose, errors and commands."""
        return "\n".join([self.asked, *self.errors, *self.commands])


@functools.lru_cache(maxsize=4096)
def parse(raw: str) -> Message:
    """Split ``raw`` into the prose that asks and the output it pastes."""
    prose: list[str] = []
    pasted: list[str] = []
    in_fence = False
    lines = raw.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kinds: list[str | None] = []
    for line in lines:
        if _FENCE.match(line):
            in_fence = not in_fence
            kinds.append(None)
        elif in_fence:
            kinds.append("pasted")
        elif not line.strip() or _TEMPLATE.match(line):
            kinds.append(None)
        elif not any(kinds):
            kinds.append("prose")  # the title: the one line that always says what is wrong
        else:
            kinds.append("prose" if is_prose(line) else "pasted")
    for line, kind in zip(lines, kinds, strict=True):
        if kind == "prose":
            prose.append(line.strip())
        elif kind == "pasted":
            pasted.append(line.strip())
    if not prose:  # nothing but output: search what there is
        prose = [line.strip() for line in lines if line.strip() and not _FENCE.match(line)]
    asked = "\n".join(prose)
    errors = tuple(_errors(pasted))
    return Message(
        raw=raw,
        asked=asked,
        # The error lines a post pastes are often its real question ("exec format error").
        focus="\n".join([focus(asked), *errors]),
        errors=errors,
        commands=tuple(_commands(pasted)),
    )


def is_prose(line: str) -> bool:
    """Whether a line reads as something a person wrote, rather than output or code."""
    stripped = line.strip()
    if _PROMPT.match(line) or _LOG.match(line) or _INSTRUCTION.match(line):
        return False
    cjk = len(_CJK.findall(stripped))
    if cjk >= 2:
        return True
    if _TABLE.search(stripped) or _YAML.match(line):
        return False
    pieces = stripped.split()
    words = [m.group(1) for m in map(_PLAIN_WORD.fullmatch, pieces) if m]
    letters = sum(len(w) for w in words)
    if not words or letters < 0.55 * len("".join(pieces)):
        return False  # mostly digits, paths, hashes and punctuation
    stop = sum(1 for w in words if w.lower() in text.EN_STOPWORDS)
    if _KEY_VALUE.match(stripped) and stop < 2:
        return False
    return stop >= 2 or (stop >= 1 and len(words) >= 3) or stripped.endswith("?")


def focus(asked: str) -> str:
    """What to search of the prose: chatter ("thanks in advance", "I'm new to Docker") dropped;
    of a long post, only the title and the sentences that ask something or state a problem."""
    sentences = [s.strip() for s in _SENTENCE_END.split(asked) if s and s.strip()]
    if not sentences:
        return asked
    title, rest = (
        _without_opening(sentences[0]),
        [s for s in sentences[1:] if not _CHATTER.match(s)],
    )
    words = len(_WORDS.findall(asked))
    cjk = len(_CJK.findall(asked))
    if words > FOCUS_ABOVE_WORDS or cjk > FOCUS_ABOVE_CJK:
        rest = [s for s in rest if _ASKS.search(s) or _PROBLEM.search(s)]
    return "\n".join([title, *rest])


def _without_opening(sentence: str) -> str:
    """``sentence`` without the small talk it opens with: "awesome thanks, one more thing: how
    do I run it as non-root?" asks "how do I run it as non-root?"."""
    cut = 0
    for match in _CLAUSE_END.finditer(sentence):
        clause = sentence[cut : match.start()].strip()
        if not (_OPENER.fullmatch(clause) or smalltalk.kind(clause) is not None):
            break
        cut = match.end()
    rest = sentence[cut:].strip()
    return rest if rest and cut else sentence


def _errors(pasted: list[str]) -> list[str]:
    found = [line for line in pasted if _ERROR.search(line) and not _PROMPT.match(line)]
    return list(dict.fromkeys(found))[:MAX_ERROR_LINES]


def _commands(pasted: list[str]) -> list[str]:
    found = []
    for line in pasted:
        if _PROMPT.match(line) or line.lower().startswith(("docker", "sudo docker")):
            match = _DOCKER_COMMAND.search(line)
            if match:
                found.append(match.group(1))
    return list(dict.fromkeys(found))
