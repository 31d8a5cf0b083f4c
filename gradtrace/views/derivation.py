"""Chain-rule derivations as text and as HTML with the maths set in plain HTML and CSS.

No MathJax, no network: fractions are two stacked spans, indices ``<sub>``, powers ``<sup>``.
The styles are scoped under ``.gradtrace`` like the report's.

Example:
    >>> math_html("∂y/∂x_1 = 2·z^2")
    '<span class="gt-frac"><span>∂y</span><span>∂x<sub>1</sub></span></span> = 2·z<sup>2</sup>'
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING

import torch

from gradtrace.teaching.chain import fmt

if TYPE_CHECKING:
    from gradtrace.teaching.explain import Explanation, Path

__all__ = ["math_html", "explanation_text", "explanation_html", "MATH_STYLE", "MAX_SHOWN"]

#: Factors of a path, symbols on it and legend rows shown; past this many, the first and last
#: halves and a line saying how many were left out (a loop makes paths thousands of ops long).
MAX_SHOWN = 24

_FRAC = re.compile(r"∂([^\s/·=(),;:]+)/∂([^\s/·=(),;:]+)")
_SUB = re.compile(r"\b([A-Za-z]+)_(\d+)\b")
_SUP = re.compile(r"\^\(([^()]*)\)|\^(-?[\w.]+)")

MATH_STYLE = """<style>
.gradtrace .gt-frac{display:inline-flex;flex-direction:column;vertical-align:middle;
 text-align:center;line-height:1.15;margin:0 .1em;font-size:.95em}
.gradtrace .gt-frac>span+span{border-top:1px solid currentColor}
.gradtrace .gt-math{white-space:nowrap}
.gradtrace .gt-ok{color:#16a34a;font-weight:600}
.gradtrace .gt-bad{color:#dc2626;font-weight:600}
.gradtrace .gt-path{margin:6px 0 6px 0;padding-left:8px;
 border-left:3px solid rgba(128,128,128,.35)}
.gradtrace table.gt-eq td{padding:1px 8px 1px 0;vertical-align:middle;white-space:nowrap}
</style>"""


def _plain(text: str) -> str:
    out = html.escape(text, quote=False)
    out = _SUP.sub(lambda m: f"<sup>{m.group(1) if m.group(1) is not None else m.group(2)}</sup>",
                   out)
    return _SUB.sub(r"\1<sub>\2</sub>", out)


def math_html(text: str, *, frac: bool = True) -> str:
    """Formula text as HTML: ``∂a/∂b`` as a fraction, ``x_1`` and ``z^2`` as sub/superscripts.

    ``frac=False`` keeps ``∂a/∂b`` on one line (for table rows).
    """
    if not frac:
        return _plain(text)
    parts, pos = [], 0
    for m in _FRAC.finditer(text):
        parts.append(_plain(text[pos:m.start()]))
        parts.append(f'<span class="gt-frac"><span>{_plain("∂" + m.group(1))}</span>'
                     f'<span>{_plain("∂" + m.group(2))}</span></span>')
        pos = m.end()
    parts.append(_plain(text[pos:]))
    return "".join(parts)


def _ends(items: list[str], what: str, gap: str = "{}") -> list[str]:
    """``items``, or past :data:`MAX_SHOWN` the first and last halves around a line
    ``"… N more what"`` (written into ``gap``, e.g. an HTML row)."""
    half = MAX_SHOWN // 2
    if len(items) <= MAX_SHOWN:
        return items
    left_out = gap.format(f"… {len(items) - 2 * half} more {what}")
    return [*items[:half], left_out, *items[-half:]]


def _product(path: Path, seed: torch.Tensor | None) -> str:
    """``"0.0173 · 1.0000 · 0.6570 = 0.0114"`` when every factor is one number."""
    locals_ = [f.local for f in path.factors]
    scalar = all(t is not None and (t.numel() == 1 or bool((t == t.flatten()[0]).all()))
                 for t in locals_) and not any(f.matrix for f in path.factors)
    if not scalar or seed is None or seed.numel() != 1:
        return fmt(path.product)
    numbers = [fmt(t.flatten()[0]) for t in locals_ if t is not None]
    if float(seed) != 1.0:
        numbers.insert(0, fmt(seed))
    if len(numbers) == 1:
        return fmt(path.product)
    return f"{' · '.join(_ends(numbers, 'factors'))} = {fmt(path.product)}"


def _verdict(e: Explanation) -> tuple[str, bool | None]:
    if e.expected is None or e.total is None:
        return "", None
    ok = e.expected.shape == e.total.shape and torch.allclose(
        e.total.double(), e.expected.double(), rtol=1e-4, atol=1e-6)
    word = "they agree" if ok else "they differ"
    return f"autograd gave ∂{e.output}/∂{e.name} = {fmt(e.expected)}: {word}", ok


def _head(e: Explanation) -> str:
    where = f" (backward pass {e.backward_pass})" if e.backward_pass else ""
    what = "the product along the one path" if e.count == 1 else f"the sum over {e.count} paths"
    if e.count == 0:
        what = "no path"
    return f"∂{e.output}/∂{e.name} = {fmt(e.total)}: {what} from {e.output} to {e.name}{where}"


def _sum(e: Explanation) -> str:
    if e.count == 1:
        return f"one path: ∂{e.output}/∂{e.name} is its product, {fmt(e.total)}"
    if len(e.paths) == e.count and e.paths:
        return f"∂{e.output}/∂{e.name} = {' + '.join(fmt(p.product) for p in e.paths)} = " \
               f"{fmt(e.total)}"
    return f"∂{e.output}/∂{e.name} = {fmt(e.total)} (over all {e.count} paths)"


def explanation_text(e: Explanation) -> str:
    """The derivation as plain text: the legend, each path with its factors, the sum."""
    lines = [_head(e), ""]
    lines += _ends([f"  {s} = {x} = {v}" if x else f"  {s} = {v}" for s, x, v in e.legend],
                   "tensors", "  {}")
    for i, p in enumerate(e.paths, 1):
        lines += ["", f"path {i}: {' → '.join(_ends(list(p.symbols), 'tensors'))}"]
        lines += _ends([f"  {f.text}" for f in p.factors], "factors", "  {}")
        lines.append(f"  product: {_product(p, e.seed)}")
    if e.count > len(e.paths):
        lines += ["", f"… {e.count - len(e.paths)} more paths"]
    lines += ["", _sum(e)] if e.paths else []
    verdict, _ = _verdict(e)
    lines += [verdict] if verdict else []
    lines += [e.note] if e.note else []
    return "\n".join(lines)


def explanation_html(e: Explanation) -> str:
    """The derivation as a self-contained HTML fragment (no scripts)."""
    from gradtrace.views.style import BASE_STYLE

    m = math_html
    gap = '<tr><td colspan="3" class="gt-dim">{}</td></tr>'
    rows = "".join(_ends([f"<tr><td>{m(s)}</td><td>{'= ' + m(x) if x else ''}</td>"
                          f"<td>= {m(v)}</td></tr>" for s, x, v in e.legend], "tensors", gap))
    parts = ['<div class="gradtrace gt-explain">', BASE_STYLE, MATH_STYLE,
             f"<p><b>{m(_head(e))}</b></p>",
             f'<table class="gt-eq">{rows}</table>' if rows else ""]
    for i, p in enumerate(e.paths, 1):
        factors = "".join(_ends([f"<tr><td>{m(f.text)}</td></tr>" for f in p.factors],
                                "factors", gap.replace(' colspan="3"', "")))
        names = m(" → ".join(_ends(list(p.symbols), "tensors")))
        parts.append(f'<div class="gt-path"><p>path {i}: {names}</p>'
                     f'<table class="gt-eq">{factors}</table>'
                     f"<p>product: {m(_product(p, e.seed))}</p></div>")
    if e.count > len(e.paths):
        parts.append(f'<p class="gt-dim">… {e.count - len(e.paths)} more paths</p>')
    if e.paths:
        parts.append(f"<p><b>{m(_sum(e))}</b></p>")
    verdict, ok = _verdict(e)
    if verdict:
        mark = ' <span class="gt-ok">✓</span>' if ok else ' <span class="gt-bad">✗</span>'
        parts.append(f"<p>{m(verdict)}{mark}</p>")
    if e.note:
        parts.append(f'<p class="gt-dim">{html.escape(e.note)}</p>')
    parts.append("</div>")
    return "\n".join(p for p in parts if p)
