"""Domain exceptions: the CLI and the page turn these into one readable line (never a traceback)."""

from __future__ import annotations


class QAError(Exception):
    """Base class of every error that `qa` reports to a user; `exit_code` is what the CLI exits with."""

    exit_code = 1


class InputError(QAError):
    """The user's input (a question, a file, an option) is invalid: exit code 2, per the contract."""

    exit_code = 2


class CorpusError(InputError):
    """The corpus folder or an article in it cannot be used (missing, empty, not UTF-8 text)."""


class IndexStateError(QAError):
    """The index on disk is missing, stale, corrupt or was written by another format version."""


class ModelError(QAError):
    """The embedding model cannot be found, built or loaded."""


class StoreError(QAError):
    """The passage store cannot be used: the database is unreachable, lacks pgvector, or has another schema."""


class PageError(CorpusError):
    """A web page cannot be taken in: a refused address (file://…), a response that is not HTML, too big, or no article in it."""


class FetchError(QAError):
    """A web page could not be fetched: the server did not answer in time, could not be reached, or answered an HTTP error."""


def one_line(exc: BaseException) -> str:
    """An exception as a short single line (library messages can span lines)."""
    text = " ".join(str(exc).split())
    return f"{exc.__class__.__name__}: {text[:200]}" if text else exc.__class__.__name__
