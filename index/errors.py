"""Errors the engine raises, each with a message a server owner can act on."""

from __future__ import annotations


class CitebotError(Exception):
    """Base class: anything the engine reports to a person instead of a traceback."""


class DocumentRejected(CitebotError):
    """A document cannot be indexed (empty, binary, too large, nothing left after cleaning)."""


class IndexMissing(CitebotError):
    """No index has been built in the index directory yet."""


class IndexMismatch(CitebotError):
    """The index on disk does not fit the settings or its sources (other model, changed file)."""


class IndexCorrupt(CitebotError):
    """The index on disk is damaged: a file is missing, truncated or does not match its hash."""


class ModelUnavailable(CitebotError):
    """The embedding model cannot be loaded from the configured name or path."""


class QuestionRejected(CitebotError):
    """A question is empty or carries no words to look for."""


class BuildTimedOut(CitebotError):
    """A build ran past its time budget and was stopped; nothing was changed."""

    @classmethod
    def after(cls, budget: float) -> BuildTimedOut:
        return cls(
            f"The build took longer than {budget:g} s (BUILD_TIMEOUT_SECONDS) and was stopped; nothing was changed."
        )


class BuildCancelled(CitebotError):
    """A build was stopped because citebot is stopping; nothing was changed."""


class LibraryFull(DocumentRejected):
    """Adding a document would take a library past its document or size limit."""


class UnknownDocument(CitebotError):
    """A document named by its key is not in the library."""


class UrlRefused(DocumentRejected):
    """A URL is refused by a rule (scheme, address, redirect, size, type, time); the message says which."""


class BuildInProgress(CitebotError):
    """Another build holds this library's lock (in this process or another); nothing was changed."""


class DiskFull(CitebotError):
    """The disk that holds the index is full; what the failed change wrote was removed."""


class BuildCrashed(CitebotError):
    """The build process ended before the build finished; nothing of it was made live."""
