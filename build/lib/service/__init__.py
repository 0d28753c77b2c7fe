"""dockfaq: a bilingual Docker Q&A assistant that answers from a curated corpus."""

__version__ = "0.1.0"
