"""What curators should look at: refused, low-confidence and thumbs-down questions, grouped;
and the FAQ entries readers voted unhelpful."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from service import smalltalk, text
from service.conversations import ConversationStore, Turn
from service.embedding import Embedder

# Questions whose embeddings are at least this similar to a group's first question join it.
SIMILARITY = 0.7
# Answered, but with a confidence this close above the threshold: worth a curator's look.
LOW_MARGIN = 0.1


@dataclass
class Group:
    """Similar questions that the corpus handled badly, most frequent first."""

    questions: list[str] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)
    entries: Counter[str] = field(default_factory=Counter)  # what dockfaq answered with

    @property
    def size(self) -> int:
        return len(self.questions)


def candidates(store: ConversationStore, threshold: float) -> list[tuple[Turn, str]]:
    """Turns a curator should see, each with why: refused, low confidence, or thumbs down."""
    down = {f.message_id for f in store.feedback() if f.rating == "down"}
    picked = []
    for turn in store.turns():
        if smalltalk.kind(turn.question) is not None:
            continue  # "thanks!" is not a gap in the corpus
        if turn.message_id in down:
            picked.append((turn, "thumbs down"))
        elif not turn.answered:
            picked.append((turn, "refused"))
        elif turn.confidence < threshold + LOW_MARGIN:
            picked.append((turn, "low confidence"))
    return picked


@dataclass
class EntryVotes:
    """The page's "Was this helpful?" votes on one entry."""

    entry_id: str
    up: int = 0
    down: int = 0
    comments: list[str] = field(default_factory=list)  # the down votes' comments


def unhelpful_entries(store: ConversationStore) -> list[EntryVotes]:
    """Entries with at least one down vote, the most down votes first."""
    tally: dict[str, EntryVotes] = {}
    for vote in store.entry_votes():
        votes = tally.setdefault(vote.entry_id, EntryVotes(vote.entry_id))
        if vote.rating == "up":
            votes.up += 1
        else:
            votes.down += 1
            if vote.comment:
                votes.comments.append(vote.comment)
    return sorted((v for v in tally.values() if v.down), key=lambda v: (-v.down, v.up))


def group(items: list[tuple[Turn, str]], embedder: Embedder) -> list[Group]:
    """Greedy clustering on embeddings (Chinese read through the glossary), biggest first."""
    if not items:
        return []
    readable = [text.translate(t.question)[0] or t.question for t, _ in items]
    vectors = embedder.encode(readable)
    groups: list[Group] = []
    seeds: list[np.ndarray] = []
    for (turn, reason), vector in zip(items, vectors, strict=True):
        similarities = [float(seed @ vector) for seed in seeds]
        best = int(np.argmax(similarities)) if similarities else -1
        if best < 0 or similarities[best] < SIMILARITY:
            groups.append(Group())
            seeds.append(vector)
            best = len(groups) - 1
        groups[best].questions.append(turn.question)
        groups[best].reasons[reason] += 1
        if turn.entry_id:
            groups[best].entries[turn.entry_id] += 1
    return sorted(groups, key=lambda g: -g.size)
