"""The few exceptions dockfaq raises; every front end maps them to its own errors."""


class DockfaqError(Exception):
    """Base class for every error dockfaq raises on purpose."""


class ConfigError(DockfaqError):
    """A setting is invalid or points at something that cannot be used."""


class CorpusError(DockfaqError):
    """A corpus file is malformed; the message names the file and the problem."""


class IndexNotBuilt(DockfaqError):
    """No index exists in the index directory."""


class IndexMismatch(DockfaqError):
    """The index on disk was built with other settings than the current ones."""


class UnknownConversation(DockfaqError):
    """A conversation id this caller did not get from this server (or that has expired)."""


class NotReady(DockfaqError):
    """The index is still loading or building."""
