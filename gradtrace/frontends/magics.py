"""``%%gradtrace``: trace an IPython or Jupyter cell; the only module that imports IPython.

Load it with ``%load_ext gradtrace`` (``%unload_ext gradtrace`` removes it). Defaults of the
options can be set with ``%config`` or in ``ipython_config.py``, e.g.
``c.GradtraceMagics.max_rows = 50``.

# NOTE [running the cell as if the magic were not there]
# The cell is compiled with the shell's own compiler under the filename its ``cache`` registers
# in linecache (so tracebacks show the user's lines as ``Cell In[n]``, and ``trace(files=[it])``
# reads names and lines from the cell) and run with exec in the user namespace, as %%time does;
# a last expression statement is evaluated apart and shown through the displayhook, as a plain
# cell would. A nested ``run_cell`` would swallow the cell's exception and "Run All" would not
# stop: instead the trace of what ran is shown and the exception re-raised, with the traceback
# starting at the cell's own frame.
"""

# mypy: disable-error-code="no-untyped-call,untyped-decorator"
# (IPython's magic_arguments and display are not typed)
from __future__ import annotations

import ast
import types
import warnings
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display
from traitlets import Bool, Int, Unicode

from gradtrace.frontends.api import trace
from gradtrace.frontends.cells import ends_with_semicolon, user_traceback
from gradtrace.frontends.options import OPTIONS, count, trace_options
from gradtrace.views.display import DEFAULT_SECTIONS, TraceView, parse_sections

__all__ = ["GradtraceMagics", "load", "unload"]


def _shared_options(func: Any) -> Any:
    """Add the options the command line shares (:data:`~gradtrace.frontends.options.OPTIONS`),
    listed in their order."""
    for option in reversed(OPTIONS):
        func = argument(*option.flags, **option.keywords)(func)
    return func


@magics_class
class GradtraceMagics(Magics):
    """The ``%%gradtrace`` cell magic; its traits are the defaults of the options."""

    max_rows = Int(200, help="Most rows shown per table (0: all); --max-rows.").tag(config=True)
    sections = Unicode(",".join(DEFAULT_SECTIONS),
                       help="Sections shown: warnings, forward, backward, tensors, graph; "
                            "--sections.").tag(config=True)
    retain_grad = Bool(True, help="retain_grad() on non-leaf tensors; --no-retain.").tag(
        config=True)
    # Deprecated spellings, still honoured (with a FutureWarning) when changed.
    show = Unicode(",".join(DEFAULT_SECTIONS), help="Deprecated: use sections.").tag(config=True)
    table = Bool(True, help="Deprecated: use sections.").tag(config=True)
    graph = Bool(True, help="Deprecated: use sections.").tag(config=True)
    full_values = Bool(False, help="Deprecated: use values = 'full'.").tag(config=True)
    values = Unicode("summary", help="What to keep of each tensor: summary, full or none; "
                                     "--values.").tag(config=True)
    stepper = Bool(False, help="Also show the step-by-step walk; --stepper.").tag(config=True)
    width = Int(0, help="Width of the text report (0: the terminal's).").tag(config=True)
    explore_above = Int(40, help="A graph of more nodes shows as the explorer (pan, zoom, "
                                 "search); -1: never.").tag(config=True)

    @magic_arguments()
    @argument("-o", "--output", metavar="NAME",
              help="store the Trace in the variable NAME (also when the cell fails)")
    @_shared_options
    @argument("--width", metavar="N", type=count, help="width of the text report")
    @argument("--watch", metavar="N", type=count,
              help="watch a training cell: trace one iteration in N, keep one status line "
                   "updated at each sample, show makemore's figure and the table at the end; "
                   "-o NAME stores the Watch")
    @argument("--stepper", dest="stepper", action="store_const", const=True,
              help="also show the step-by-step walk (Previous/Next through every step)")
    @argument("--show", metavar="SECTIONS", help="deprecated: use --sections")
    @argument("--no-table", dest="table", action="store_const", const=False,
              help="deprecated: use --sections")
    @argument("--table", dest="table", action="store_const", const=True,
              help="deprecated: use --sections")
    @argument("--no-graph", dest="graph", action="store_const", const=False,
              help="deprecated: use --sections")
    @argument("--graph", dest="graph", action="store_const", const=True,
              help="deprecated: use --sections")
    @argument("--full-values", action="store_const", const=True,
              help="deprecated: use --values full")
    @no_var_expand
    @cell_magic
    def gradtrace(self, line: str, cell: str) -> None:
        """Run the cell and show every forward op and backward step autograd took.

        The cell runs in the notebook's namespace as it would without the magic: its variables
        stay, its last expression is still shown, and an error still stops the notebook (after
        the trace of what ran before it is shown). Names and lines come from the cell's code.

        Usage::

            %%gradtrace [-o NAME] [--sections SECTIONS] [--values MODE] [options]
            x = torch.tensor([3.0], requires_grad=True)
            y = (x ** 2).sum()
            y.backward()

        In a notebook the trace shows as HTML (warnings, the forward table, each backward pass,
        the graph); in terminal IPython as text tables fitted to the terminal. ``-o t`` keeps
        it: ``t.grad("x")``, ``t.forward`` (a DataFrame), ``t.warnings``.

        Defaults can be changed with ``%config``, e.g. ``%config GradtraceMagics.max_rows = 50``,
        or ``%config GradtraceMagics.sections = 'forward,backward'``. ``--stepper`` adds the
        step-by-step walk:
        Previous/Next through the forward then the backward steps, the current node lit in the
        graph, with the chain rule of each backward step.
        """
        __tracebackhide__ = True
        shell = self.shell
        assert shell is not None
        args = parse_argstring(self.gradtrace, line)
        if args.watch == 0:
            raise UsageError("%%gradtrace --watch N: N is how often an iteration is traced "
                             "(one in N); it must be 1 or more")
        asked = args.values is not None or args.full_values  # else the watch's own default
        view, options = self._options(args)
        code, expr, source, filename = self._compile(shell, cell)
        if args.watch:
            return self._watch(shell, args, code, expr, source, filename,
                               options["values"] if asked else None)
        ns, error, value, t = shell.user_ns, None, None, None
        try:
            with trace(files=[filename], show=False, **options) as t:
                exec(code, shell.user_global_ns, ns)
                if expr is not None:
                    value = eval(expr, shell.user_global_ns, ns)
        except BaseException as exc:
            if t is None:  # the tracer did not start: not the cell's error
                raise
            error = exc
        if args.output:
            ns[args.output] = t
        if value is not None and not ends_with_semicolon(source):
            shell.displayhook(value)
        try:
            shown = list(getattr(shell.display_formatter, "active_types", None) or ())
            display(TraceView(t, brief_error=True, **view), include=shown)
            if (args.stepper or self.stepper) and t.steps:
                display(t.stepper(), include=shown)
        except Exception as exc:
            if error is None:
                raise
            print(f"gradtrace: could not show the trace: {exc!r}")
        if error is not None:
            raise error.with_traceback(user_traceback(error.__traceback__, filename))

    def _watch(self, shell: Any, args: Any, code: types.CodeType, expr: types.CodeType | None,
               source: str, filename: str, values: str | None) -> None:
        """``--watch N``: run the cell under :func:`gradtrace.watch` with a live status
        (``values``: what the sampled Traces keep, None for the watch's default)."""
        __tracebackhide__ = True
        from gradtrace.watching import watch
        from gradtrace.watching.live import Live
        from gradtrace.watching.watcher import SAMPLE_VALUES

        ns, error, value = shell.user_ns, None, None
        live = Live()
        w = watch(files=[filename], every=args.watch, on_sample=live.update,
                  values=SAMPLE_VALUES if values is None else values)
        try:
            with w:
                exec(code, shell.user_global_ns, ns)
                if expr is not None:
                    value = eval(expr, shell.user_global_ns, ns)
        except BaseException as exc:
            error = exc
        if args.output:
            ns[args.output] = w
        if value is not None and not ends_with_semicolon(source):
            shell.displayhook(value)
        live.finish(w, getattr(shell.display_formatter, "active_types", None))
        if error is not None:
            raise error.with_traceback(user_traceback(error.__traceback__, filename))

    def _options(self, args: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """Merge the command line over the configured defaults; bad values are usage errors."""
        if args.output is not None and not args.output.isidentifier():
            raise UsageError(f"%%gradtrace: -o needs a variable name, not {args.output!r}")
        sections = self._sections(args)
        max_rows = self.max_rows if args.max_rows is None else args.max_rows
        width = self.width if args.width is None else args.width
        if max_rows < 0 or width < 0:
            raise UsageError("%%gradtrace: max_rows and width take a number >= 0")
        view = dict(sections=sections, max_rows=max_rows or None, width=width or None,
                    explore_above=self.explore_above if self.explore_above >= 0 else None)
        args.values = self._values(args)
        options = trace_options(args, retain_grad=self.retain_grad, values=self.values)
        try:
            trace(show=False, **options)  # checks them as trace() does, before the cell runs
        except ValueError as exc:
            raise UsageError(f"%%{exc}") from None
        return view, options

    def _sections(self, args: Any) -> tuple[str, ...]:
        """``--sections`` over the configured ones; the deprecated spellings still count."""
        chosen, flag = args.sections, "--sections"
        if chosen is None and args.show is not None:
            _deprecated("--show", "--sections")
            chosen, flag = args.show, "--show"
        if chosen is None:
            chosen = self.sections
            if self.show != self.traits()["show"].default_value:
                _deprecated("GradtraceMagics.show", "GradtraceMagics.sections")
                chosen = self.show
        try:
            sections = parse_sections(chosen)
        except ValueError as exc:
            raise UsageError(f"%%gradtrace {flag}: {exc}") from None
        for name, dropped in (("table", ("forward", "backward", "tensors")), ("graph", ("graph",))):
            given = getattr(args, name)
            if given is not None:
                _deprecated(f"--{'' if given else 'no-'}{name}", "--sections")
            elif not getattr(self, name):
                _deprecated(f"GradtraceMagics.{name}", "GradtraceMagics.sections")
            if not (getattr(self, name) if given is None else given):
                sections = tuple(s for s in sections if s not in dropped)
        return sections

    def _values(self, args: Any) -> str:
        values: str = self.values if args.values is None else args.values
        if args.full_values or self.full_values:
            _deprecated("--full-values" if args.full_values else "GradtraceMagics.full_values",
                        "--values full")
            if values == "none":
                raise UsageError("%%gradtrace: --full-values contradicts --values none")
            values = "full"
        return values

    def _compile(self, shell: Any,
                 cell: str) -> tuple[types.CodeType, types.CodeType | None, str, str]:
        """Compile the cell as IPython would, under a filename of its own in linecache.

        Returns the code of its statements, of its last expression (None if it does not end
        in one), the Python source, and the filename.
        """
        source = shell.transform_cell(cell)
        filename = shell.compile.cache(source, shell.execution_count, raw_code=cell)
        tree = shell.transform_ast(shell.compile.ast_parse(source, filename=filename))
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        code = shell.compile(tree, filename, "exec")
        expr = shell.compile(last, filename, "eval") if last is not None else None
        return code, expr, source, filename


def _deprecated(old: str, new: str) -> None:
    warnings.warn(f"%%gradtrace: {old} is deprecated; use {new}", FutureWarning, stacklevel=3)


def load(shell: Any) -> None:
    """Register ``%%gradtrace`` (once: loading again changes nothing)."""
    if "GradtraceMagics" not in shell.magics_manager.registry:
        shell.register_magics(GradtraceMagics)


def unload(shell: Any) -> None:
    """Remove ``%%gradtrace`` and its configurable; nothing happens if it was not loaded."""
    magics = shell.magics_manager.registry.pop("GradtraceMagics", None)
    if magics is None:
        return
    cell = shell.magics_manager.magics["cell"]
    if getattr(cell.get("gradtrace"), "__self__", None) is magics:
        del cell["gradtrace"]
    if magics in shell.configurables:
        shell.configurables.remove(magics)

