"""How answers are cut into pieces for streaming (/chat/stream and the OpenAI stream)."""

from __future__ import annotations

import re


def chunks(markdown: str) -> list[str]:
    """Split an answer into stream pieces (lines and sentences) that join back exactly."""
    return [piece for piece in re.split(r"(?<=[\n。！？.!?])", markdown) if piece]
