"""The stepper's inline CSS and JavaScript (see the NOTE in :mod:`gradtrace.views.stepper`).

The script controls only the widget whose id replaces ``UID``: it hides the note that the walk
needs a trusted notebook, shows the controls, puts the graph's SVG inline in place of its
``<img>``, marks the current table row and graph nodes and edges with the class ``gt-on``, fills
the card from the row's hidden ``.gt-more``, keeps ``data-gt-current`` (1-based) up to date, and
honours ``#step=N``.
"""

from __future__ import annotations

__all__ = ["STYLE", "SCRIPT"]

STYLE = """<style>
.gradtrace.gt-stepper .gt-controls{display:flex;gap:8px;align-items:center;margin:4px 0}
.gradtrace.gt-stepper button{font:inherit;padding:1px 10px;cursor:pointer}
.gradtrace.gt-stepper .gt-range{flex:1 1 auto;max-width:28em}
.gradtrace.gt-stepper .gt-stage{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}
.gradtrace.gt-stepper .gt-stage>.gt-graph{flex:1 1 320px;min-width:0;margin:0}
.gradtrace.gt-stepper .gt-card{flex:1 1 360px;border-left:3px solid #db2777;padding:2px 10px;
 font-size:13px}
.gradtrace.gt-stepper .gt-card-title{font-weight:600}
.gradtrace.gt-stepper .gt-use{margin:0 0 8px 0}
.gradtrace.gt-stepper .gt-steps{max-height:20em}
.gradtrace.gt-stepper tr.gt-on td{background:rgba(219,39,119,.16)!important}
.gradtrace.gt-stepper svg g.node.gt-on path{stroke:#db2777;stroke-width:3px}
.gradtrace.gt-stepper svg g.edge.gt-on path{stroke:#db2777;stroke-width:2.5px}
.gradtrace.gt-stepper svg g.edge.gt-on polygon{fill:#db2777;stroke:#db2777}
</style>"""

# The script reads only the widget it sits in; ``UID`` is replaced by the widget's id.
SCRIPT = """<script>(function () {
var root = document.getElementById("UID");
if (!root || root.getAttribute("data-gt-ready")) return;
root.setAttribute("data-gt-ready", "1");
var rows = root.querySelectorAll("tr[data-gt-k]"), n = rows.length;
if (!n) return;
var img = root.querySelector(".gt-stage img.gt-pic");
if (img && window.DOMParser && window.TextDecoder) {
  var bin = atob(img.getAttribute("src").split(",")[1]);
  var bytes = new Uint8Array(bin.length);
  for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  var doc = new DOMParser().parseFromString(new TextDecoder().decode(bytes), "image/svg+xml");
  if (doc.documentElement.nodeName === "svg") {
    var inline = document.importNode(doc.documentElement, true);
    inline.setAttribute("style", img.getAttribute("style"));
    img.parentNode.replaceChild(inline, img);
  }
}
var svg = {};
root.querySelectorAll("svg g.node, svg g.edge").forEach(function (g) {
  var t = g.querySelector("title");
  if (t) svg[t.textContent] = g;
});
var bar = root.querySelector(".gt-controls"), card = root.querySelector(".gt-card");
var range = bar.querySelector(".gt-range"), pos = bar.querySelector(".gt-pos");
var prev = bar.querySelector(".gt-prev"), next = bar.querySelector(".gt-next");
var box = root.querySelector(".gt-steps"), pic = root.querySelector(".gt-stage>.gt-graph");
var lit = [], cur = 0;
bar.style.display = "flex"; card.style.display = "block";
root.querySelectorAll(".gt-nojs").forEach(function (e) { e.style.display = "none"; });
function mark(el) { if (el) { el.classList.add("gt-on"); lit.push(el); } }
function into(view, el) {
  if (!view || !el) return;
  var a = view.getBoundingClientRect(), b = el.getBoundingClientRect();
  if (b.top < a.top || b.bottom > a.bottom) view.scrollTop += b.top - a.top - a.height / 3;
  if (b.left < a.left || b.right > a.right) view.scrollLeft += b.left - a.left - a.width / 3;
}
function show(k) {
  k = Math.max(0, Math.min(n - 1, k | 0)); cur = k;
  lit.forEach(function (el) { el.classList.remove("gt-on"); }); lit = [];
  var row = rows[k], c = row.cells;
  mark(row);
  ["data-gt-nodes", "data-gt-edges"].forEach(function (a) {
    (row.getAttribute(a) || "").split(" ").forEach(function (id) { if (id) mark(svg[id]); });
  });
  root.setAttribute("data-gt-current", String(k + 1));
  range.value = String(k + 1); pos.textContent = (k + 1) + " / " + n;
  prev.disabled = k === 0; next.disabled = k === n - 1;
  var title = document.createElement("p"); title.className = "gt-card-title";
  title.textContent = row.getAttribute("data-gt-title");
  var more = row.querySelector(".gt-more");
  card.innerHTML = more ? more.innerHTML : "<p>" + c[4].innerHTML + ": " + c[5].innerHTML +
    "</p><p>" + c[6].innerHTML + "</p>";
  card.insertBefore(title, card.firstChild);
  into(box, row); into(pic, svg[(row.getAttribute("data-gt-nodes") || "").split(" ")[0]]);
}
prev.addEventListener("click", function () { show(cur - 1); });
next.addEventListener("click", function () { show(cur + 1); });
range.addEventListener("input", function () { show(+range.value - 1); });
root.addEventListener("keydown", function (e) {
  if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
    show(cur + (e.key === "ArrowRight" ? 1 : -1)); e.preventDefault();
  }
});
function fromHash() {
  var m = /[#&]step=(\\d+)/.exec(window.location.hash || "");
  if (m) { show(+m[1] - 1); root.scrollIntoView({block: "start"}); }
  return !!m;
}
window.addEventListener("hashchange", fromHash);
if (!fromHash()) show(0);
})();</script>"""
