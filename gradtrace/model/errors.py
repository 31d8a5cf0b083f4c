"""Errors a Trace raises when asked for something it does not hold."""

from __future__ import annotations

__all__ = ["TraceLookupError"]


class TraceLookupError(KeyError):
    """A name or value that the Trace does not hold; the message says what it does hold."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])

