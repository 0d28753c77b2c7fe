"""Turns that are not questions: thanks, greetings, acknowledgements, "that didn't work", and
requests for poems.

They get a short reply in the user's language, never a search: joined with the previous question,
"thanks!" would find the previous answer again, confidently.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

Kind = Literal["unhelped", "thanks", "greeting", "farewell", "about", "ack", "request"]

# A message is small talk when, punctuation and emoji aside, it is nothing but phrases of these
# lists (and fillers); its kind is the first kind, in this order, that one of its phrases has.
_EN: dict[str, str] = {
    # The answer did not help: saying it again would not either; ask for what is missing.
    "unhelped": r"(?:that|it|this|your answer)? ?(?:did ?n'?t|does ?n'?t|did not|does not"
    r"|wo ?n'?t|will not|do ?n'?t|is ?n'?t|not) (?:work|works|working|help|helping|helpful|fix it"
    r"|solve it|solve anything|answer my question|right|correct|it)"
    r"|still (?:not working|broken|failing|fails|the same|same|no luck|nothing|doesn'?t work)"
    r"|(?:i'?m )?(?:still )?(?:getting|having|get|have|got) the same (?:error|problem|issue|result)"
    r"|same (?:error|problem|issue|thing|result)(?: again)?|wrong answer|(?:that'?s|that is"
    r"|this is) (?:wrong|not it|not right|incorrect|not what i (?:asked|meant|wanted))"
    r"|not what i (?:asked|meant|wanted)(?: for)?|no luck|useless|no good|unhelpful"
    r"|you(?:'re| are) wrong|irrelevant|not relevant",
    "thanks": r"thanks?|thank (?:you|u)|thx|thnx|tnx|ty|tysm|tyvm|cheers|much appreciated"
    r"|appreciated?|appreciate (?:it|that|the help)|many thanks|kudos|you(?:'re| are) (?:great"
    r"|awesome|the best|a lifesaver|amazing|a star)|(?:great|good|nice|perfect) answer"
    r"|(?:very |really |so )?helpful|that(?:'s| is| was) (?:very |really |so )?(?:helpful|great"
    r"|perfect|useful|it)|(?:it|that) (?:worked|works|helped|helps|did it|did the trick)"
    r"|works now|working now|solved(?: it)?|fixed(?: it)?|problem solved|lifesaver",
    "greeting": r"hi|hello|hey|hiya|howdy|yo|greetings|good (?:morning|afternoon|evening|day)"
    r"|what'?s up|sup|how are you(?: doing| today)?|how'?s it going|nice to meet you"
    r"|(?:i )?(?:have|'ve got|got) (?:a|another|one more) (?:quick )?question|quick question"
    r"|(?:can|could|would) (?:you|u) help(?: me)?(?: please| out)?|(?:please )?help me"
    r"|i need (?:some )?help|need (?:some )?help|are you there|any ?(?:one|body) (?:there|here)"
    r"|can i ask (?:you )?(?:a question|something)",
    "farewell": r"bye|goodbye|good bye|bye bye|see (?:you|ya)(?: later| soon)?|later|good night"
    r"|have a (?:nice|good|great) (?:day|one|evening|weekend)|take care|ciao|that'?s all",
    "about": r"(?:who|what) are you|what can you do|what do you do|what is (?:this|dockfaq)"
    r"|are you (?:a )?(?:bot|human|robot|ai|chatgpt|gpt|real)|who (?:made|built|created) you"
    r"|help|what can i ask(?: you)?|how (?:do i|does this|to) use (?:you|this|dockfaq)",
    "ack": r"ok(?:ay)?|k|kk|alright|all right|sure|yes|yeah|yep|yup|no|nope|nah|fine|got it"
    r"|gotcha|i see|understood|understand|makes sense|good|great|cool|nice|perfect|awesome"
    r"|excellent|brilliant|amazing|wow|noted|right|lol|haha+|hmm+|ah+|oh+|interesting"
    r"|sounds good|will do|(?:i'?ll|i will|let me|going to|gonna) (?:try|test|check)(?: it| that"
    r"| this)?(?: out| now)?|trying now|done|got it working|i get it|clear|ok then",
}
_EN_FILLER = (
    r"so much|very much|a lot|a ton|a bunch|again|man|mate|bro|buddy|dude|bot|dockfaq|guys"
    r"|everyone|all|there|folks|friend|for (?:the|your|all the) (?:help|answer|reply|explanation"
    r"|info|information|quick reply|tips?)|for that|for this|for helping|that|it|now|then|really"
    r"|very|so|just|indeed|and|but|a|lot|you|too|as well|in advance|much|!"
)
_ZH_WORDS: dict[str, str] = {
    "unhelped": """不对 不行 还是不行 没用 没有用 不管用 不好使 没效果 没有效果 无效 还是报错
        还是一样 还是同样的错 还是同样的错误 还是这个错 答非所问 不是这个 不是我要的 不是我想要的
        没解决 还是没解决 没有解决 错了 回答错了 说错了 还是失败 还是不可以""",
    "thanks": """谢谢 谢啦 谢了 多谢 感谢 感恩 谢谢你 谢谢您 感谢你 感谢您 辛苦了 thanks thx
        太棒了 太好了 棒 厉害 牛 好用 解决了 搞定了 成功了 可以了 好使了 有用 管用 帮大忙了
        学到了""",
    "greeting": """你好 您好 嗨 哈喽 哈啰 hello hi 在吗 在不在 有人吗 早上好 早安 早 上午好
        中午好 下午好 晚上好 大家好 我有个问题 我有一个问题 问个问题 问一个问题 请问一下 能帮我吗
        可以帮我吗 帮帮我 求助""",
    "farewell": """再见 拜拜 回头见 下次见 晚安 bye 先这样""",
    "about": """你是谁 你是什么 你叫什么 你能做什么 你会什么 你可以做什么 你是机器人吗 你是人吗
        怎么用你 这是什么 帮助""",
    "ack": """好的 好吧 好 行 行吧 可以 嗯+ 哦+ 噢+ 喔+ 收到 了解 明白 明白了 知道了 懂了
        晓得了 ok okay 对 对的 是的 没问题 哈+ 呵呵 嘿嘿 原来如此 有道理 我试试 试试看 我去试试
        我再试试 试一下 我看看 懂 6{3,} 牛逼 给力 nb""",
}
_ZH_FILLER = """你 您 啦 了 的 吧 哈 呀 啊 哇 大佬 老哥 兄弟 机器人 帮助 你的帮助 您的帮助 回答
    解答 分享 非常 十分 万分 真 真的 很 太 我"""
_ZH = {kind: "|".join(words.split()) for kind, words in _ZH_WORDS.items()}
_EN_RE = {kind: re.compile(rf"(?:^|\s)(?:{p})(?=\s|$)") for kind, p in _EN.items()}
_EN_ALL = re.compile(rf"^(?:(?:{'|'.join(_EN.values())}|{_EN_FILLER})(?:\s+|$))+$")
_ZH_RE = {kind: re.compile(rf"(?:{p})") for kind, p in _ZH.items()}
_ZH_ALL = re.compile(rf"^(?:{'|'.join(_ZH.values())}|{'|'.join(_ZH_FILLER.split())})+$")
# Requests for something else than an answer about Docker: write a poem, tell a joke.
_REQUEST = re.compile(
    r"^(?:(?:can|could|would|will) you |please |pls |now |ok(?:ay)? |and |then )*"
    r"(?:write|compose|tell|sing|draw|generate|make|give) (?:me |us )?(?:a |an |one |another "
    r"|some )?(?:\w+ )?(?:poem|joke|story|song|haiku|limerick|essay|rap|riddle|sonnet|picture)"
    r"|^(?:what(?:'s| is) the (?:weather|time|date)|tell me about yourself|sing|dance"
    r"|play a game)"
    r"|^(?:请|帮我|给我|你|再)*(?:写|作|来|讲|说|唱|画)(?:一|两|几)?(?:首|个|段|篇|张)?"
    r"(?:诗|小诗|唐诗|笑话|故事|歌|作文|段子|画)"
    r"|^(?:今天|明天|现在)?\w{0,6}天气(?:怎么样|如何|好吗|预报)"
)
_NOISE = re.compile(r"[^\w\s'!]+|_", re.UNICODE)
_ORDER: tuple[Kind, ...] = ("unhelped", "thanks", "greeting", "farewell", "about", "ack")

REPLIES: dict[str, dict[str, str]] = {
    "unhelped": {
        "en": "Sorry that didn't help. Tell me more and I'll look again: the command you ran, "
        "the exact error message, and what `docker ps -a` and `docker logs <container>` show.",
        "zh": "抱歉没能帮上忙。请补充一些细节，我再查一次：你运行的命令、完整的报错信息，"
        "以及 `docker ps -a` 和 `docker logs <容器>` 的输出。",
    },
    "thanks": {
        "en": "You're welcome! Ask me anything else about Docker images and containers.",
        "zh": "不客气！还有关于 Docker 镜像和容器的问题，随时问我。",
    },
    "greeting": {
        "en": "Hello! Ask me anything about Docker images and containers: why a container "
        "exits, saving and loading images, running as a non-root user, base images, registries.",
        "zh": "你好！关于 Docker 镜像和容器的问题都可以问我：容器为什么退出、镜像的保存与加载、"
        "以非 root 用户运行、基础镜像、镜像仓库等。",
    },
    "farewell": {
        "en": "Goodbye! Come back any time you have a Docker question.",
        "zh": "再见！有 Docker 问题随时回来问我。",
    },
    "ack": {
        "en": "OK. If anything else about Docker images or containers comes up, just ask.",
        "zh": "好的。还有 Docker 镜像或容器的问题，直接问就行。",
    },
    "about": {
        "en": "I'm dockfaq: I answer questions about Docker images and containers from a curated "
        'FAQ and cite the entry I answer from. Try: "docker save vs docker export".',
        "zh": "我是 dockfaq：根据精选的 FAQ 回答 Docker 镜像和容器的问题，并注明出处条目。"
        "试试问：“docker save 和 docker export 有什么区别？”",
    },
    "request": {
        "en": "I can only help with questions about Docker images and containers; that one is "
        "outside what I know.",
        "zh": "我只能回答 Docker 镜像和容器方面的问题，这个超出了我的范围。",
    },
}


def kind(message: str) -> Kind | None:
    """What kind of non-question ``message`` is, or None when it may be a question."""
    plain = _plain(message)
    if not plain.strip("! "):
        # Only emoji or punctuation: a thumbs-up, not a question ("?" alone asks nothing either).
        return "ack" if message.strip() else None
    if len(plain) > 80:
        return None
    squashed = plain.replace(" ", "").replace("!", "")
    if _ZH_ALL.match(squashed):  # fillers alone ("我", "回答") are no kind of small talk
        found = next((k for k in _ORDER if _ZH_RE[k].search(squashed)), None)
        if found:
            return found
    if _EN_ALL.match(plain):
        found = next((k for k in _ORDER if _EN_RE[k].search(f" {plain} ")), None)
        if found:
            return found
    if _REQUEST.match(plain) or _REQUEST.match(squashed):
        return "request"
    return None


def reply(kind: Kind, language: str) -> str:
    """The short reply to a non-question, in ``language``."""
    return REPLIES[kind][language]


def _plain(message: str) -> str:
    """Lower case, full-width folded, punctuation and emoji dropped, spaces squashed."""
    folded = unicodedata.normalize("NFKC", message).lower().replace("\u2019", "'")
    spaced = _NOISE.sub(" ", folded).replace("!", " ! ")
    return " ".join(spaced.split()).strip(" '")
