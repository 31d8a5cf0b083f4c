"""Short symbols for the tensors of a Trace, as the chain-rule lines write them.

A named tensor keeps its name; a name bound again in a loop gets a version mark that stays
short however long the loop runs (``h``, ``h′``, ``h″``, ``h‴``, ``h⁽⁴⁾``, ... ``h⁽⁹⁹⁹⁾``);
unnamed intermediates get ``v1``, ``v2``, ... (another letter if the code uses ``v1`` itself).

# NOTE [version marks that stay short]
# Primes repeated once per rebinding made a 1,000-iteration loop's symbols up to 1,000
# characters long, and its saved report 37.6 MB. With superscript numbers past three primes
# the longest mark of that loop is 5 characters and the page is under 3 MB.

Example:
    >>> [version_mark(k) for k in (0, 1, 2, 3, 4, 12)]
    ['', '′', '″', '‴', '⁽⁴⁾', '⁽¹²⁾']
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gradtrace.model.trace import Trace

__all__ = ["symbols", "version_mark"]

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,15}\Z")
_PRIMES = ("", "′", "″", "‴")
_SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def version_mark(k: int) -> str:
    """The mark of a name's ``k``-th rebinding: ``′``, ``″``, ``‴``, then ``⁽⁴⁾``, ``⁽¹²⁾``..."""
    return _PRIMES[k] if k < len(_PRIMES) else f"⁽{str(k).translate(_SUPERSCRIPT)}⁾"


def symbols(trace: Trace) -> dict[int, str]:
    """A short symbol per forward step: its variable name (with a :func:`version_mark` when
    rebound), else ``v1``, ``v2``..."""
    names = {s.name for s in trace.steps}
    prefix = next(p for p in ("v", "u", "w", "h_") if not any(re.fullmatch(p + r"\d+", n)
                                                             for n in names))
    out: dict[int, str] = {}
    seen: dict[str, int] = {}
    k = 0
    for s in trace.steps:
        if s.named and _IDENT.match(s.name):
            out[s.step] = s.name + version_mark(seen.get(s.name, 0))
            seen[s.name] = seen.get(s.name, 0) + 1
        else:
            k += 1
            out[s.step] = f"{prefix}{k}"
    return out
