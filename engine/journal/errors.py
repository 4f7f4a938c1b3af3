"""The journal's one exception."""

from __future__ import annotations


class JournalError(Exception):
    """The journal cannot be opened, read or written.

    The message names the file and, for a bad row, its sequence number and what is wrong with it.
    The engine cannot trade without its journal, so callers treat this as fatal: stop with the
    message and a non-zero exit.
    """
