"""The CSS every gradtrace HTML fragment carries: the report, the stepper, explanations, exercises.

Each fragment brings its own ``<style>`` (see NOTE [HTML that works everywhere] in
:mod:`gradtrace.views.html`), scoped under ``.gradtrace``; the stepper and the derivations add
their own rules after this one.

Example:
    >>> BASE_STYLE.startswith("<style>") and ".gradtrace table.gt" in BASE_STYLE
    True
"""

from __future__ import annotations

__all__ = ["BASE_STYLE", "INLINE"]

#: Inline ``style`` attributes for what a view needs even where ``<style>`` is stripped: an
#: untrusted JupyterLab notebook keeps ``style`` attributes (see NOTE [HTML that works
#: everywhere] in :mod:`gradtrace.views.html`). Colours pass 4.5:1 in light and dark themes: the
#: warning kind is white on amber-700 (5.0:1), a chip that carries its own background.
INLINE = {
    "root": ("font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,DejaVu Sans Mono,"
             "monospace;font-size:12px;line-height:1.45;color:inherit"),
    "table": "border-collapse:collapse;margin:0;font:inherit;color:inherit;background:transparent",
    "cell": "white-space:nowrap;text-align:left;padding:1px 8px",
    "num": "white-space:nowrap;text-align:right;padding:1px 8px",
    "code": "white-space:nowrap;font:inherit;background:transparent;padding:0;color:inherit",
    "scroll": "max-height:26em;overflow:auto;margin:2px 0 6px 0",
    "graph": "max-height:42em;overflow:auto;margin:2px 0 6px 0",
    "warnings": ("list-style:none;margin:4px 0;padding:4px 8px;font-size:13px;"
                 "border-left:3px solid #d97706"),
    "kind": ("background:#b45309;color:#ffffff;font-weight:600;padding:0 5px;"
             "border-radius:3px"),
    "error": "border-left:3px solid #dc2626;padding:2px 8px",
    "dim": "opacity:.7",
    "hide": "display:none",
}

BASE_STYLE = """<style>
.gradtrace{color-scheme:light dark;color:inherit;font-size:12px;line-height:1.45;
 font-family:var(--jp-code-font-family,ui-monospace,SFMono-Regular,Menlo,Consolas,monospace)}
.gradtrace p,.gradtrace ul{margin:4px 0}
.gradtrace details{margin:6px 0}
.gradtrace summary{cursor:pointer;font-weight:600}
.gradtrace .gt-scroll{max-height:28em;overflow:auto;margin:2px 0 6px 0}
.gradtrace table.gt{border-collapse:collapse;margin:0;font:inherit;color:inherit;
 background:transparent;table-layout:auto}
.gradtrace table.gt th,.gradtrace table.gt td{padding:1px 10px 1px 0;text-align:left;
 vertical-align:top;white-space:nowrap;color:inherit;background:transparent;border:0;
 border-bottom:1px solid rgba(128,128,128,.25);
 border-bottom:1px solid color-mix(in srgb,currentColor 18%,transparent)}
.gradtrace table.gt th{position:sticky;top:0;font-weight:600;
 background:var(--jp-layout-color0,var(--vscode-editor-background,Canvas))}
.gradtrace table.gt td.gt-num,.gradtrace table.gt th.gt-num{text-align:right}
.gradtrace table.gt tr:hover td{background:rgba(128,128,128,.08)}
.gradtrace .gt-dim{opacity:.65}
.gradtrace .gt-leaf{font-weight:600}
.gradtrace ul.gt-warn{list-style:none;padding:4px 8px;border-left:3px solid #d97706}
.gradtrace .gt-error{border-left:3px solid #dc2626;padding:2px 8px}
.gradtrace .gt-graph{max-height:48em;overflow:auto;margin:2px 0 6px 0}
.gradtrace pre.gt-tree{font:inherit;color:inherit;background:transparent;margin:2px 0}
</style>"""
