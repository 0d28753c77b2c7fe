"""Every hand-set number of ranking and answering, in one place.

The fitted numbers (the ranker's weights, the calibrator's and the refusal threshold) live in
``ranking.json`` and are explained in ``ranking.py``. In short, a question's confidence is
``sigmoid(w · f)`` for the first entry, where ``f`` are the CONFIDENCE_FEATURES: the entry's
fitted-score margin over the best other entry (weighed less when the question never names Docker
or when the dense model cannot read it), its share of the softmax over all entries, its cosine,
word coverage and exact terms, and the question's shape (names Docker, names a neighbouring
subject, words the corpus knows, readable share, Chinese, long). An answer is given when that
probability reaches the fitted threshold.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scoring:
    """The hand-set numbers; ``SCORING`` is the one set in use."""

    # Candidate vectors taken from the dense index per question.
    dense_candidates: int = 256
    # How many candidates HNSW explores (at least the number asked for). With the graph of
    # store.HNSW_M, 1024 gives recall@10 of 0.99 against exact search on the 100k corpus of
    # bench/growth.py (512: 0.97), in about 2 ms a question on one core.
    hnsw_ef_search: int = 1024
    # An entry's dense score also averages its best few views: one stray alternate question
    # that happens to resemble a post should not outweigh an entry whose several views all do.
    views_averaged: int = 3
    # Reciprocal-rank fusion's constant (`dockfaq eval --fusion rrf` only).
    rrf_k: int = 60
    # The single-signal baselines' confidence: cosines of all-MiniLM-L6-v2 between a question
    # and an unrelated Docker text sit near 0.2, paraphrases score 0.6 and above.
    dense_floor: float = 0.25
    dense_ceiling: float = 0.70
    # Alternatives shown with a refusal must be at least this plausible; below it, show none.
    alternative_floor: float = 0.1
    # A further entry is cited as related only when it is nearly as good as the answer.
    related_ratio: float = 0.75
    # A message that is confident alone but reads as a follow-up takes the reading joined with
    # the previous question when that one is at most this much less confident.
    follow_up_slack: float = 0.05
    # Earlier turns searched with a follow-up, at most: the thread's question and its follow-ups.
    max_joined: int = 3
    # A question of more tokens than this, with no follow-up wording, stands alone even when
    # it is not sure alone. The unsure follow-ups of both eval sets that have no follow-up
    # wording have at most 4 ("怎么一次全部删掉", "how do I see its logs after it stopped").
    standalone_tokens: int = 5
    # /search lists only entries whose fused ranking score reaches this: keyboard noise and
    # questions from other fields (asdfghjkl, "weather tomorrow") top out near 6 with the
    # fitted ranking, the weakest one-word Docker search seen (oom) starts at 17.5. Checked
    # against the real index in tests/test_quality.py.
    search_floor: float = 8.0


SCORING = Scoring()
