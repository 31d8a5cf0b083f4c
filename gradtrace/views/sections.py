"""The sections a report is made of, and the choice of them that ``sections=`` takes.

Every renderer shows its sections in the order of :data:`SECTIONS`; the one-line summary and the
"stopped by" line are not sections and always show.

Example:
    >>> parse_sections("graph, forward")
    ('forward', 'graph')
    >>> parse_sections(None) == DEFAULT_SECTIONS
    True
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["SECTIONS", "DEFAULT_SECTIONS", "parse_sections"]

#: ``updates``: one row per optimizer step and parameter; shown only when a step ran.
SECTIONS = ("warnings", "forward", "backward", "updates", "tensors", "graph")
DEFAULT_SECTIONS = ("warnings", "forward", "backward", "updates", "graph")


def parse_sections(text: str | Iterable[str] | None) -> tuple[str, ...]:
    """The sections named in ``text`` ("forward,backward", "all", "none"), in display order.

    Args:
        text: comma-separated names, or an iterable of names; None for :data:`DEFAULT_SECTIONS`.

    Raises:
        ValueError: a name that is not one of :data:`SECTIONS`; the message lists them.

    Example:
        >>> parse_sections("backward, forward")
        ('forward', 'backward')
    """
    if text is None:
        return DEFAULT_SECTIONS
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text)]
    names = [n for n in names if n]
    if names == ["all"]:
        return SECTIONS
    if names == ["none"]:
        return ()
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        raise ValueError(f"unknown section(s) {', '.join(map(repr, unknown))}: choose from "
                         f"{', '.join(SECTIONS)} (comma-separated), 'all' or 'none'")
    return tuple(s for s in SECTIONS if s in names)
