(function (root, data) {
"use strict";
// One explorer per output: everything is looked up inside its own root, so several explorers
// (and a re-rendered output) in one page never see each other.
if (!root || root.getAttribute("data-gt-ready") || !window.panzoom) return;
var NS = "http://www.w3.org/2000/svg";
function q(sel) { return root.querySelector(sel); }
function el(tag, text, cls) {
  var e = document.createElement(tag);
  if (text != null) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}
var bar = q(".gt-x-bar"), main = q(".gt-x-main"), stage = q(".gt-x-stage");
var panel = q(".gt-x-panel"), still = q(".gt-x-static"), note = q(".gt-nojs");
var svg = still.querySelector("svg");
if (!svg) {  // a notebook carries the picture as an <img>, which a sanitizer keeps
  var img = still.querySelector("img");
  if (!img || !window.DOMParser || !window.TextDecoder) return;
  var bin = atob(img.getAttribute("src").split(",")[1]), bytes = new Uint8Array(bin.length);
  for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  var doc = new DOMParser().parseFromString(new TextDecoder("utf-8").decode(bytes),
                                            "image/svg+xml");
  svg = document.importNode(doc.documentElement, true);
}
root.setAttribute("data-gt-ready", "1");
// Without a viewBox one SVG unit is one CSS pixel, so the pan/zoom transform is all there is.
svg.removeAttribute("viewBox");
svg.setAttribute("width", "100%");
svg.setAttribute("height", "100%");
svg.setAttribute("style", "display:block;max-width:none;width:100%;height:100%");
stage.appendChild(svg);
still.style.display = "none";
if (note) note.style.display = "none";
bar.style.display = "";
main.style.display = "";
var graph0 = svg.querySelector("g.graph");
var scene = document.createElementNS(NS, "g");
scene.setAttribute("class", "gt-x-scene");
graph0.parentNode.insertBefore(scene, graph0);
scene.appendChild(graph0);
var pz = window.panzoom(scene, {smoothScroll: false, zoomDoubleClickSpeed: 1, maxZoom: 12,
                                minZoom: 0.02, disableKeyboardInteraction: true});
pz.on("transform", function () {
  root.setAttribute("data-gt-scale", pz.getTransform().scale.toFixed(4));
});

function titleOf(g) {
  var t = g.querySelector("title");
  var text = t ? t.textContent : "";
  if (t) t.parentNode.removeChild(t);  // a native tooltip ("t5") would only get in the way
  return text;
}
var gt = graph0.querySelector("title");
if (gt && gt.parentNode === graph0) graph0.removeChild(gt);

var nodes = {}, order = [];
svg.querySelectorAll("g.node").forEach(function (g) {
  var id = titleOf(g), d = data.nodes[id];
  if (!d) return;  // the legend
  g.setAttribute("aria-label", d.label);
  g.setAttribute("role", "button");
  g.setAttribute("tabindex", "-1");
  g.classList.add("gt-x-node");
  nodes[id] = {g: g, d: d};
  order.push(id);
});

var edges = [], seen = {};
svg.querySelectorAll("g.edge").forEach(function (g) {
  var key = titleOf(g), k = seen[key] = (seen[key] || 0) + 1;
  var ends = key.split("->"), sent = (data.edges[key] || [])[k - 1] || [];
  var path = g.querySelector("path");
  if (path) {  // a wide transparent twin of the line: thin lines are hard to hover
    var hit = path.cloneNode(false);
    hit.setAttribute("class", "gt-x-hit");
    g.appendChild(hit);
  }
  var e = {g: g, from: ends[0], to: ends[1], sent: sent};
  edges.push(e);
  g.addEventListener("mouseenter", function (ev) { tip(e, ev); });
  g.addEventListener("mousemove", function (ev) { place(ev); });
  g.addEventListener("mouseleave", function () { tipBox.style.display = "none"; });
});

var tipBox = el("div", null, "gt-x-tip");
tipBox.setAttribute("role", "tooltip");
stage.appendChild(tipBox);
function nameOf(id) { var n = nodes[id]; return n ? n.d.name : id; }
function tip(e, ev) {
  var to = nodes[e.to], op = to ? to.d.op + " → " + to.d.name : nameOf(e.to);
  var lines = [nameOf(e.from) + " → " + op];
  if (e.sent.length) {
    e.sent.forEach(function (s) { lines.push("backward " + s[0] + ": sent " + s[1]); });
  } else {
    lines.push(e.from.charAt(0) === "o" ? "the op's result" : "no gradient recorded on this edge");
  }
  tipBox.textContent = lines.join("\n");
  tipBox.style.display = "block";
  place(ev);
}
function place(ev) {
  var r = stage.getBoundingClientRect();
  tipBox.style.left = Math.min(ev.clientX - r.left + 12, r.width - 200) + "px";
  tipBox.style.top = (ev.clientY - r.top + 12) + "px";
}

// -- geometry: positions in the scene's own units, independent of the current pan and zoom
function centreOf(elem) {
  var b = elem.getBBox(), m = scene.getCTM().inverse().multiply(elem.getCTM());
  var p = svg.createSVGPoint();
  p.x = b.x + b.width / 2;
  p.y = b.y + b.height / 2;
  return p.matrixTransform(m);
}
function fit() {
  var w = stage.clientWidth, h = stage.clientHeight;
  if (!w || !h) return false;
  var b = graph0.getBBox(), m = scene.getCTM().inverse().multiply(graph0.getCTM());
  var p = svg.createSVGPoint(), xs = [], ys = [];
  [[b.x, b.y], [b.x + b.width, b.y + b.height]].forEach(function (c) {
    p.x = c[0]; p.y = c[1];
    var t = p.matrixTransform(m); xs.push(t.x); ys.push(t.y);
  });
  var x0 = Math.min.apply(null, xs), x1 = Math.max.apply(null, xs);
  var y0 = Math.min.apply(null, ys), y1 = Math.max.apply(null, ys);
  var s = Math.min(w / (x1 - x0), h / (y1 - y0), 4 / 3) * 0.96;
  pz.zoomAbs(0, 0, s);
  pz.moveTo((w - (x1 - x0) * s) / 2 - x0 * s, (h - (y1 - y0) * s) / 2 - y0 * s);
  return true;
}
function centre(id) {
  var p = centreOf(nodes[id].g), w = stage.clientWidth, h = stage.clientHeight;
  var s = Math.max(pz.getTransform().scale, 1);  // at least Graphviz's own size: readable
  pz.zoomAbs(0, 0, s);
  pz.moveTo(w / 2 - p.x * s, h / 2 - p.y * s);
}

// -- modules: a collapsed cluster hides what is inside it and is drawn filled
var collapsed = {}, clusters = [];
svg.querySelectorAll("g.cluster").forEach(function (g) {
  var idx = +titleOf(g).replace("cluster_", ""), path = data.modules[idx];
  if (path == null) return;
  var label = g.querySelector("text");
  g.setAttribute("aria-label", "module " + path);
  clusters.push({g: g, path: path});
  if (!label) return;
  label.classList.add("gt-x-toggle");
  label.setAttribute("role", "button");
  label.setAttribute("tabindex", "0");
  label.setAttribute("aria-label", "collapse or expand " + path);
  function flip(ev) { ev.stopPropagation(); collapsed[path] = !collapsed[path]; hide(); }
  label.addEventListener("click", flip);
  label.addEventListener("keydown", function (ev) { if (ev.key === "Enter") flip(ev); });
});
function inside(module) {
  for (var p in collapsed) {
    if (collapsed[p] && (module === p || module.indexOf(p + ".") === 0)) return p;
  }
  return null;
}
function hide() {
  order.forEach(function (id) {
    nodes[id].g.classList.toggle("gt-hidden", !!inside(nodes[id].d.module));
  });
  edges.forEach(function (e) {
    var a = nodes[e.from], b = nodes[e.to];
    e.g.classList.toggle("gt-hidden", !!(a && b && inside(a.d.module) && inside(b.d.module)));
  });
  clusters.forEach(function (c) {
    var parent = c.path.lastIndexOf(".") > 0 ? inside(c.path.slice(0, c.path.lastIndexOf(".")))
                                             : null;
    c.g.classList.toggle("gt-collapsed", !!collapsed[c.path] && !parent);
    c.g.classList.toggle("gt-hidden", !!parent);
  });
}
function reveal(id) {
  var m = nodes[id].d.module;
  for (var p in collapsed) if (m === p || m.indexOf(p + ".") === 0) collapsed[p] = false;
  hide();
}

// -- the panel: the tensor's rows as the tables show them, its statistics, its uses
function table(headers, rows) {  // one row as "field  value" lines: a panel is narrow
  var box = el("div", null, "gt-x-table");
  rows.forEach(function (cells) {
    var t = el("table", null, "gt");
    headers.forEach(function (h, k) {
      if (!cells[k]) return;
      var tr = el("tr");
      tr.appendChild(el("th", h));
      tr.appendChild(el("td", cells[k]));
      t.appendChild(tr);
    });
    box.appendChild(t);
  });
  return box;
}
var chosen = null;
function open(id) {
  var d = nodes[id].d, s = data.steps[String(d.step)];
  if (chosen) chosen.classList.remove("gt-chosen");
  chosen = nodes[id].g;
  chosen.classList.add("gt-chosen");
  panel.textContent = "";
  var head = el("div", null, "gt-x-head");
  head.appendChild(el("b", d.name, "gt-x-name"));
  head.appendChild(el("span", " " + (d.kind === "module" ? "module" : d.role), "gt-dim"));
  var close = el("button", "×");
  close.setAttribute("aria-label", "close details");
  close.addEventListener("click", function () { panel.style.display = "none"; });
  head.appendChild(close);
  panel.appendChild(head);
  if (d.kind === "module") {
    panel.appendChild(el("p", d.op));
    if (d.value) panel.appendChild(el("p", "output value " + d.value));
    if (d.grad != null) panel.appendChild(el("p", "output grad " + d.grad));
  }
  if (s && d.kind !== "module") {
    panel.appendChild(el("h5", "forward"));
    panel.appendChild(table(data.headers.forward, [s.forward]));
    var passes = {};
    s.backward.forEach(function (r) { (passes[r[0]] = passes[r[0]] || []).push(r[1]); });
    data.passes.forEach(function (p) {
      if (!passes[p[0]]) return;
      panel.appendChild(el("h5", p[1]));
      panel.appendChild(table(data.headers.backward, passes[p[0]]));
    });
    panel.appendChild(el("h5", "value"));
    panel.appendChild(el("p", s.value, "gt-x-stats"));
    if (s.grad) {
      panel.appendChild(el("h5", "gradient"));
      panel.appendChild(el("p", s.grad, "gt-x-stats"));
    }
    if (s.uses.length) {
      panel.appendChild(el("h5", "gradients along each use"));
      var ul = el("ul", null, "gt-x-uses");
      s.uses.forEach(function (u) {
        ul.appendChild(el("li", "from " + u[0] + " in backward " + u[1] + ": " + u[2]));
      });
      panel.appendChild(ul);
    }
  }
  panel.style.display = "";
}

// -- search: matches listed, Enter and the arrow keys move between them
var input = q(".gt-x-search"), list = q(".gt-x-matches"), count = q(".gt-x-count");
var matches = [], at = -1;
function find(text) {
  text = text.trim().toLowerCase();
  order.forEach(function (id) { nodes[id].g.classList.remove("gt-hit", "gt-current"); });
  matches = [];
  at = -1;
  list.textContent = "";
  if (!text) { count.textContent = ""; return; }
  var exact = [], start = [], rest = [];
  order.forEach(function (id) {
    var d = nodes[id].d, name = d.name.toLowerCase();
    if (d.kind === "op" || name.indexOf(text) < 0) return;
    (name === text ? exact : name.indexOf(text) === 0 ? start : rest).push(id);
  });
  matches = exact.concat(start, rest);
  matches.forEach(function (id, k) {
    nodes[id].g.classList.add("gt-hit");
    if (k >= 50) return;
    var b = el("button", nodes[id].d.name);
    b.addEventListener("click", function () { go(k, false); open(id); });
    var li = el("li");
    li.appendChild(b);
    list.appendChild(li);
  });
  count.textContent = matches.length ? matches.length + (matches.length > 1 ? " matches"
                                                                            : " match")
                                     : "no match";
}
function go(k, focus) {
  if (!matches.length) return;
  at = (k + matches.length) % matches.length;
  var id = matches[at];
  order.forEach(function (o) { nodes[o].g.classList.remove("gt-current"); });
  reveal(id);
  nodes[id].g.classList.add("gt-current");
  list.querySelectorAll("button").forEach(function (b, j) {
    if (j === at) b.setAttribute("aria-current", "true"); else b.removeAttribute("aria-current");
  });
  count.textContent = (at + 1) + " of " + matches.length;
  centre(id);
  if (focus) nodes[id].g.focus({preventScroll: true});
}
input.addEventListener("input", function () { find(input.value); });
input.addEventListener("keydown", function (ev) {
  if (ev.key === "Enter") {
    ev.preventDefault();
    if (!matches.length) find(input.value);
    go(at + (ev.shiftKey ? -1 : 1), false);
  } else if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
    ev.preventDefault();
    go(at + (ev.key === "ArrowDown" ? 1 : -1), true);
  }
});

order.forEach(function (id) {
  var g = nodes[id].g;
  g.addEventListener("click", function (ev) {
    if (moved) return;  // the end of a drag, not a click
    ev.stopPropagation();
    open(id);
  });
  g.addEventListener("keydown", function (ev) {
    var k = matches.indexOf(id);
    if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); open(id); }
    else if (ev.key === "Escape") input.focus();
    else if (k >= 0 && (ev.key === "ArrowDown" || ev.key === "ArrowRight")) {
      ev.preventDefault(); go(k + 1, true);
    } else if (k >= 0 && (ev.key === "ArrowUp" || ev.key === "ArrowLeft")) {
      ev.preventDefault(); go(k - 1, true);
    }
  });
});
var moved = false, down = null;
stage.addEventListener("mousedown", function (ev) { down = [ev.clientX, ev.clientY]; moved = false; },
                       true);
stage.addEventListener("mousemove", function (ev) {
  if (down && Math.abs(ev.clientX - down[0]) + Math.abs(ev.clientY - down[1]) > 4) moved = true;
}, true);
stage.addEventListener("mouseup", function () { down = null; }, true);

// -- the pass selector: the edges that carried gradient in that pass
var select = q(".gt-x-pass");
if (data.passes.length) {
  data.passes.forEach(function (p) {
    var o = el("option", "backward " + p[0]);
    o.value = String(p[0]);
    select.appendChild(o);
  });
  select.addEventListener("change", function () {
    var v = +select.value;
    root.classList.toggle("gt-x-passmode", v > 0);
    edges.forEach(function (e) {
      e.g.classList.toggle("gt-carried", v > 0 && e.sent.some(function (s) { return s[0] === v; }));
    });
  });
} else {
  select.style.display = "none";
}
q(".gt-x-fit").addEventListener("click", fit);
q(".gt-x-in").addEventListener("click", function () {
  pz.smoothZoom(stage.clientWidth / 2, stage.clientHeight / 2, 1.5);
});
q(".gt-x-out").addEventListener("click", function () {
  pz.smoothZoom(stage.clientWidth / 2, stage.clientHeight / 2, 1 / 1.5);
});
// A stage not laid out yet (a closed <details>, a background tab) is fitted once it is.
if (!fit() && window.ResizeObserver) {
  var ro = new ResizeObserver(function () { if (fit()) ro.disconnect(); });
  ro.observe(stage);
}
root.setAttribute("data-gt-shown", String(Date.now()));
})
