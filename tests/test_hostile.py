"""Hostile input stays inert: text from the user's code reaches HTML, DOT and SVG only as text.

Module names (``nn.ModuleDict`` keys may be any string), custom Function class names, source
lines (comments, string literals, very long lines) and error messages are chosen to break out
of HTML, attributes, DOT's HTML-like labels and Graphviz escapes. The same program also runs
with harmless names (its twin); the hostile report must have exactly the twin's elements — the
renderer's own tags, not one more — no ``<script`` and no event-handler attribute, and must show
every hostile string as text. Huge tensors show as short previews.
"""

from __future__ import annotations

import base64
import itertools
import linecache
import re
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import torch

from gradtrace import Trace, trace
from gradtrace.model.trace import TraceLookupError
from gradtrace.views.html import to_html

_counter = itertools.count()

HOSTILE = {
    "key1": "<script>alert(1)</script>",
    "key2": 'a"b{c}\\d',
    "key3": "<img src=x onerror=alert(2)>",
    "key4": "\\N\\G\\L</style><!--",
    "key5": "]]><svg onload=alert(3)>&amp;",
    "fn1": "<svg onload=alert(4)>",
    "fn2": "Q'\"{}\\",
    "comment": "<script>alert(5)</script> ' \" { } \\ &lt; ]]> --> <!--",
    "error": "</p></div><script>alert(6)</script>",
    "long": "<b>" * 7000,
}
BENIGN = {k: ("B" * 21000 if k == "long" else f"plain{i}") for i, k in enumerate(HOSTILE)}

# Each hostile string as the user wrote it and as it must read in the report, per place shown.
SHOWN = ["key1", "key2", "key3", "key4", "key5", "fn1", "fn2", "error"]

SOURCE = """\
try:
    with trace() as t:
        x = torch.ones(1, 2, requires_grad=True)  # {comment}
        note = {comment!r}
        y = model(x) + Fn1.apply(x) + Fn2.apply(x)  # {comment}
        loss = y.sum() + 0 * len({long!r})  # {comment}
        loss.backward(retain_graph=True)
        loss.backward()  # accumulates: warnings that name the parameters
        raise ValueError({error!r})
except ValueError:
    pass
"""


class Net(torch.nn.Module):
    def __init__(self, keys: list[str]) -> None:
        super().__init__()
        self.branches = torch.nn.ModuleDict({k: torch.nn.Linear(2, 2) for k in keys})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sum(m(x) for m in self.branches.values())  # type: ignore[return-value]


def function_named(name: str) -> type[torch.autograd.Function]:
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return x * 3

    def backward(ctx: Any, g: torch.Tensor) -> torch.Tensor:
        return g * 3

    return type(name, (torch.autograd.Function,),
                {"forward": staticmethod(forward), "backward": staticmethod(backward)})


def run(words: dict[str, str]) -> Trace:
    source = SOURCE.format(**words)
    filename = f"<gradtrace-hostile-{next(_counter)}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    torch.manual_seed(0)
    ns: dict[str, Any] = {
        "torch": torch, "trace": trace,
        "model": Net([words[k] for k in ("key1", "key2", "key3", "key4", "key5")]),
        "Fn1": function_named(words["fn1"]), "Fn2": function_named(words["fn2"]),
    }
    exec(compile(source, filename, "exec"), ns)
    t = ns["t"]
    assert isinstance(t, Trace) and t.error is not None
    return t


@pytest.fixture(scope="module")
def traces() -> tuple[Trace, Trace]:
    return run(HOSTILE), run(BENIGN)


class Elements(HTMLParser):
    """Every element, its attributes, the text, and the body of each ``<script>``/``<style>``,
    as a browser's parser reads them."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: Counter[str] = Counter()
        self.attributes: list[tuple[str, str, str | None]] = []
        self.text: list[str] = []
        self.raw: list[tuple[str, str]] = []  # (script or style, its body)
        self.open: list[str] = []
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        self.attributes += [(tag, k, v) for k, v in attrs]
        if tag not in ("br", "meta", "img", "hr", "input", "link"):
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        self.attributes += [(tag, k, v) for k, v in attrs]

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes <{self.open[-1:]}>"
        self.open.pop()

    def handle_data(self, data: str) -> None:
        if self.open and self.open[-1] in ("script", "style"):
            self.raw.append((self.open[-1], re.sub(r"gt-[a-z]+-[0-9a-f]{6,}", "ID", data)))
        else:
            self.text.append(data)

    @property
    def all_text(self) -> str:
        """The text, and the ``title`` attributes (a cell cut short holds its whole text there)."""
        titles = [v or "" for _, name, v in self.attributes if name == "title"]
        return "".join(self.text) + "".join(titles)


_PICTURE = "data:image/svg+xml;base64,"  # the graph: an image, which runs no script


def assert_inert(markup: str, twin: str) -> Elements:
    """``markup`` has the twin's elements exactly, its scripts and styles are the renderer's
    own (the twin's, word for word), no event handler, all tags closed."""
    found, expected = Elements(markup), Elements(twin)
    assert markup.lower().count("<script") == twin.lower().count("<script")
    assert found.open == [], f"unclosed elements: {found.open}"
    assert found.tags == expected.tags, (
        f"elements differ from the harmless twin: extra {found.tags - expected.tags}, "
        f"missing {expected.tags - found.tags}")
    assert found.raw == expected.raw, "a <script> or <style> body carries user text"
    for tag, name, value in found.attributes:
        assert not name.lower().startswith("on"), f"<{tag} {name}=...> is an event handler"
        if (tag, name.lower()) == ("img", "src") and (value or "").startswith(_PICTURE):
            picture = base64.b64decode((value or "")[len(_PICTURE):]).decode().lower()
            assert "<script" not in picture and "<foreignobject" not in picture
        elif name.lower() in ("href", "xlink:href", "src", "action", "formaction"):
            assert not (value or "").strip().lower().startswith(("javascript:", "data:")), value
    return found


def test_html_report_is_inert_and_shows_the_text(traces: tuple[Trace, Trace],
                                                 outside_ipython: None) -> None:
    hostile, benign = traces
    page = assert_inert(to_html(hostile), to_html(benign))
    text = page.all_text
    for key in SHOWN:
        assert HOSTILE[key] in text, f"{key} ({HOSTILE[key]!r}) is not shown as text"
    assert HOSTILE["comment"] in text  # the source column
    assert hostile._repr_mimebundle_()["text/html"] == to_html(hostile)


def test_html_report_without_graphviz_is_inert(traces: tuple[Trace, Trace],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import gradtrace.views.pictures as pictures

    monkeypatch.setattr(pictures, "find_binary", lambda: None)
    hostile, benign = traces
    page = assert_inert(to_html(hostile), to_html(benign))
    assert page.tags["pre"] >= 1  # the text tree instead of the picture
    for key in SHOWN[:7]:
        assert HOSTILE[key] in page.all_text


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz dot is not installed")
def test_dot_source_lays_out_and_its_svg_is_inert(traces: tuple[Trace, Trace]) -> None:
    hostile, benign = traces
    svgs = []
    for t in (hostile, benign):
        done = subprocess.run(["dot", "-Tsvg"], input=t.graph().source.encode(),
                              capture_output=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr.decode()[-2000:]
        assert b"Warning" not in done.stderr, done.stderr.decode()[-2000:]
        svgs.append(done.stdout.decode())
    svg = assert_inert(*svgs)
    for key in ["key1", "key2", "key3", "key4", "key5", "fn1", "fn2"]:
        assert HOSTILE[key] in svg.all_text, f"{key} is not drawn as written"


def test_text_report_shows_names_as_written(traces: tuple[Trace, Trace]) -> None:
    hostile, _ = traces
    text = str(hostile)
    for key in ["key1", "key2", "key5", "fn1", "error"]:
        assert HOSTILE[key] in text


def test_text_report_has_no_terminal_control_characters() -> None:
    words = dict(BENIGN)
    words["key1"] = "\x1b]0;title\x07\x1b[2J"  # set the window title, clear the screen
    words["key2"] = "tab\there\rback\x08\x7f"
    text = str(run(words))
    controls = {c for c in text if (ord(c) < 32 and c != "\n") or 127 <= ord(c) < 160}
    assert not controls, f"raw control characters in the text report: {sorted(controls)}"


def test_saved_report_page_is_inert(traces: tuple[Trace, Trace], tmp_path: Path) -> None:
    hostile, benign = traces
    pages = [t.save(tmp_path / f"{name}.html").read_text(encoding="utf-8")
             for t, name in ((hostile, "hostile"), (benign, "benign"))]
    assert_inert(*pages)


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def dump_dom(page: Path, tmp_path: Path) -> str:
    """The DOM headless Chromium builds from ``page``, scripts run, with a fresh profile."""
    profile = tempfile.mkdtemp(dir=tmp_path)
    done = subprocess.run(
        [_chromium() or "chromium", "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
         "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


HARNESS = """<script>
document.body.setAttribute("data-control", "1");  /* proves scripts run in this page */
document.querySelectorAll(".gt-stepper").forEach(function (root) {
  var next = root.querySelector(".gt-next"), n = root.querySelectorAll("tr[data-gt-k]").length;
  for (var i = 0; next && i < n; i++) next.click();  /* every step's card, as a reader would */
});
document.body.setAttribute("data-harness", String(document.querySelectorAll(".gt-next").length));
</script>"""


@pytest.mark.skipif(_chromium() is None, reason="chromium is not installed")
def test_headless_chromium_runs_nothing_injected(tmp_path: Path) -> None:
    """A real browser loads the saved report, with a test harness appended that clicks through
    every step of any stepper; nothing the names carry may run or appear as an element."""
    words = dict(BENIGN)
    pwn = "document['body']['setAttribute']('data-pwned','{}')"  # no dots: a module name
    words.update({
        "key1": f"<script>{pwn.format(1)}</script>",
        "key3": f"<img src=x onerror=\"{pwn.format(2)}\">",
        "fn1": f"<svg onload=\"{pwn.format(3)}\">",
        "comment": f"<script>{pwn.format(4)}</script>",
        "error": f"</p><img src=x onerror=\"{pwn.format(5)}\">",
    })
    page = run(words).save(tmp_path / "report.html")
    own_scripts = Elements(page.read_text(encoding="utf-8")).tags["script"]
    with page.open("a", encoding="utf-8") as f:
        f.write(HARNESS)
    dom = Elements(dump_dom(page, tmp_path))
    body = {name: value for tag, name, value in dom.attributes if tag == "body"}
    assert body.get("data-control") == "1", "the browser ran no script: this proves nothing"
    assert "data-harness" in body, "the harness stopped: a script error in the report"
    assert "data-pwned" not in body, "an injected script ran"
    assert dom.tags["script"] == own_scripts + 1
    assert all((v or "").startswith(_PICTURE) for tag, name, v in dom.attributes
               if tag == "img" and name == "src")  # only the graph
    assert "data-pwned" in dom.all_text  # shown, as text


# -- huge tensors ---------------------------------------------------------------------------------
@pytest.mark.parametrize("full_values", [False, True])
def test_huge_tensors_show_as_short_previews(full_values: bool) -> None:
    torch.manual_seed(0)
    with trace(values="full" if full_values else "summary") as t:
        big = torch.randn(10_000_000, requires_grad=True)
        y = (big * 2).tanh().sum()
        y.backward()
    start = time.perf_counter()
    text = str(t)
    page = to_html(t)
    frame = t.forward
    elapsed = time.perf_counter() - start
    assert len(text) < 20_000 and len(page) < 200_000, (len(text), len(page))
    assert elapsed < 5, f"rendering a trace of 10M-element tensors took {elapsed:.1f} s"
    assert "10000000" in text.replace(",", "").replace("_", "")  # the shape is shown
    assert max(len(str(v)) for v in frame.to_numpy().ravel()) < 200  # numbers, not values
    assert frame["numel"].tolist()[0] == 10_000_000
    assert frame["value_norm"].tolist()[0] == pytest.approx(big.detach().double().norm().item(),
                                                            rel=1e-3)
    if full_values:
        assert torch.equal(t.grad("big"), big.grad)
    else:
        with pytest.raises(TraceLookupError, match="values=\"full\""):
            t.grad("big")


def test_huge_tensor_summaries_are_right() -> None:
    with trace() as t:
        big = torch.arange(10_000_000, dtype=torch.float64)
        big[5] = float("nan")
        big[7] = float("inf")
    s = t.step("big").value
    assert s.values is None and s.shape == (10_000_000,)
    assert s.nan == 1 and s.inf == 1 and s.min == 0.0 and s.max == 9_999_999.0
    assert "1 nan" in str(t) and "1 inf" in str(t)
