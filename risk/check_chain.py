"""One short method per check in the source; one function per check chain at run time.

``RiskOverlay.check_new`` and ``check_replace`` are written as the checks table of
docs/risk.md: an ``or`` chain of ``self._check_<row>(o)`` calls, one short method per
row. That is the spec, and what a reader reads. Thirteen method calls per order cost
about a tenth of the chain's CPU instructions, though, on the path every child order
takes. So when the class is created, :class:`ComposedChecks` compiles each entry point
once more with its chain inlined: each check's body in place of its call (its locals
prefixed with the check's name, each ``return X`` meaning "the chain's answer is X",
the first answer that is not None ending the chain, exactly as ``or`` does), and
installs that as the entry point.

What stays true:

- ``inspect.getsource(RiskOverlay.check_new)`` is the written function (the composed
  one wraps it, ``__wrapped__``), and the composed source is in ``linecache`` under
  ``<composed RiskOverlay.check_new>``, so tracebacks show the line that raised;
  ``python -m risk.check_chain`` prints it.
- Replacing any check on the class (a test injecting a bug) puts the written entry
  points back until every original check is back: the chain that runs is always made
  of the checks the class has.
- A check that cannot be inlined safely (a loop, a nested function or class, a
  ``yield``, a call with other than plain names) is refused when the class is created,
  loudly, instead of being composed wrong.
"""

from __future__ import annotations
import __future__

import ast
import functools
import inspect
import linecache
import sys
import textwrap
from collections.abc import Callable
from typing import Any

_CHECK = "_check_"
_UNSAFE = (
    ast.For,
    ast.AsyncFor,
    ast.While,
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.Lambda,
    ast.ClassDef,
    ast.Yield,
    ast.YieldFrom,
    ast.Await,
    ast.Global,
    ast.Nonlocal,
)


class ComposedChecks(type):
    """Metaclass: composes the entry points named in ``_composed_entries`` at class
    creation, and again whenever a ``_check_*`` attribute of the class is replaced."""

    def __init__(cls, name: str, bases: tuple[type, ...], ns: dict[str, Any]) -> None:
        super().__init__(name, bases, ns)
        written: dict[str, Callable[..., Any]] = {}
        composed: dict[str, Callable[..., Any]] = {}
        checks: dict[str, object] = {}
        for entry in ns.get("_composed_entries", ()):
            fn = ns[entry]
            written[entry] = fn
            composed[entry], used = _compose(cls, fn)
            checks.update((c, ns[c]) for c in used)
        type.__setattr__(cls, "_written_entries", written)
        type.__setattr__(cls, "_composed_fns", composed)
        type.__setattr__(cls, "_original_checks", checks)
        cls._install()

    def __setattr__(cls, name: str, value: object) -> None:
        super().__setattr__(name, value)
        if name.startswith(_CHECK):
            cls._install()

    def __delattr__(cls, name: str) -> None:
        super().__delattr__(name)
        if name.startswith(_CHECK):
            cls._install()

    def _install(cls) -> None:
        originals: dict[str, object] = cls.__dict__["_original_checks"]
        intact = all(cls.__dict__.get(name) is fn for name, fn in originals.items())
        chosen = cls.__dict__["_composed_fns" if intact else "_written_entries"]
        for entry, fn in chosen.items():
            type.__setattr__(cls, entry, fn)


def composed_source(cls: type, entry: str) -> str:
    """The source of the composed ``entry`` (what runs), for a reader or a debugger."""
    fn = cls.__dict__["_composed_fns"][entry]
    return "".join(linecache.getlines(fn.__code__.co_filename))


def _compose(cls: type, entry: Callable[..., Any]) -> tuple[Callable[..., Any], list[str]]:
    tree = ast.parse(textwrap.dedent(inspect.getsource(entry)))
    [fn] = tree.body
    assert isinstance(fn, ast.FunctionDef)
    fn.decorator_list = []
    used: list[str] = []
    fn.body = _replace_chain(cls, fn.body, used)
    if not used:
        raise TypeError(f"{entry.__qualname__}: no `self._check_a(o) or ...` chain to compose")
    source = ast.unparse(ast.fix_missing_locations(tree)) + "\n"
    filename = f"<composed {entry.__qualname__}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    code = compile(
        source, filename, "exec", flags=__future__.annotations.compiler_flag, dont_inherit=True
    )
    module_globals = sys.modules[cls.__module__].__dict__
    local_ns: dict[str, Any] = {}
    exec(code, module_globals, local_ns)  # our own source, recompiled: nothing external
    composed = local_ns[fn.name]
    functools.update_wrapper(composed, entry)
    return composed, used


def _replace_chain(cls: type, body: list[ast.stmt], used: list[str]) -> list[ast.stmt]:
    """``body`` with each ``x = self._check_a(o) or self._check_b(o) ...`` (or ``return``
    of one) inlined."""
    out: list[ast.stmt] = []
    for stmt in body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and _is_chain(stmt.value):
            target = stmt.targets[0]
            if isinstance(target, ast.Name):
                assert isinstance(stmt.value, ast.BoolOp)
                out.extend(_inline_chain(cls, target.id, stmt.value.values, used))
                continue
        if isinstance(stmt, ast.Return) and stmt.value is not None and _is_chain(stmt.value):
            assert isinstance(stmt.value, ast.BoolOp)
            out.extend(_inline_chain(cls, "_chain_answer", stmt.value.values, used))
            out.append(ast.Return(ast.Name("_chain_answer", ast.Load())))
            continue
        for field in ("body", "orelse", "finalbody"):
            inner = getattr(stmt, field, None)
            if isinstance(inner, list) and inner and isinstance(inner[0], ast.stmt):
                setattr(stmt, field, _replace_chain(cls, inner, used))
        if isinstance(stmt, ast.Try):
            for handler in stmt.handlers:
                handler.body = _replace_chain(cls, handler.body, used)
        out.append(stmt)
    return out


def _is_chain(value: ast.expr) -> bool:
    return (
        isinstance(value, ast.BoolOp)
        and isinstance(value.op, ast.Or)
        and all(_check_call(v) is not None for v in value.values)
    )


def _check_call(node: ast.expr) -> tuple[str, str, list[str]] | None:
    """``self._check_x(a, ...)`` -> ("self", "_check_x", ["a", ...]), else None."""
    if not (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.attr.startswith(_CHECK)
        and not node.keywords
        and all(isinstance(a, ast.Name) for a in node.args)
    ):
        return None
    return node.func.value.id, node.func.attr, [a.id for a in node.args]  # type: ignore[attr-defined]


def _inline_chain(cls: type, answer: str, links: list[ast.expr], used: list[str]) -> list[ast.stmt]:
    """``answer = None`` then, in one loop the first answer breaks out of, each check."""
    chain: list[ast.stmt] = []
    for link in links:
        call = _check_call(link)
        assert call is not None
        self_name, method, args = call
        used.append(method)
        chain.append(_inline_check(cls, method, self_name, args, answer))
        chain.append(
            ast.If(
                test=ast.Compare(
                    left=ast.Name(answer, ast.Load()),
                    ops=[ast.IsNot()],
                    comparators=[ast.Constant(None)],
                ),
                body=[ast.Break()],
                orelse=[],
            )
        )
    chain[-1] = ast.Break()  # after the last check, the chain is done either way
    return [
        ast.Assign(targets=[ast.Name(answer, ast.Store())], value=ast.Constant(None)),
        ast.While(test=ast.Constant(True), body=chain, orelse=[]),
    ]


def _inline_check(
    cls: type, method: str, self_name: str, args: list[str], answer: str
) -> ast.While:
    """One check's body, in a loop run once: ``return X`` sets the answer and leaves it."""
    fn = cls.__dict__[method]
    if isinstance(fn, staticmethod | classmethod):
        raise TypeError(f"{method}: a check is a plain method (self, context)")
    [tree] = ast.parse(textwrap.dedent(inspect.getsource(fn))).body
    assert isinstance(tree, ast.FunctionDef)
    for node in ast.walk(tree):
        if node is not tree and isinstance(node, _UNSAFE):
            raise TypeError(f"{method}: cannot be inlined ({type(node).__name__} inside)")
    params = [a.arg for a in tree.args.args]
    if len(params) != len(args) + 1 or tree.args.vararg or tree.args.kwarg:
        raise TypeError(f"{method}: called with {args}, takes {params}")
    rename = {params[0]: self_name, **dict(zip(params[1:], args, strict=True))}
    prefix = f"_{method.removeprefix(_CHECK)}_"
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            if node.id in params:
                raise TypeError(f"{method}: assigns to its parameter {node.id!r}")
            rename[node.id] = prefix + node.id
    body = tree.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    inlined: list[ast.stmt] = []
    for stmt in body:
        done = _Returns(answer).visit(_Renamer(rename).visit(stmt))
        inlined.extend(done if isinstance(done, list) else [done])
    if not inlined or not isinstance(inlined[-1], ast.Break):
        inlined.append(ast.Break())
    return ast.While(test=ast.Constant(True), body=inlined, orelse=[])


class _Renamer(ast.NodeTransformer):
    def __init__(self, rename: dict[str, str]) -> None:
        self.rename = rename

    def visit_Name(self, node: ast.Name) -> ast.Name:
        return ast.copy_location(ast.Name(self.rename.get(node.id, node.id), node.ctx), node)


class _Returns(ast.NodeTransformer):
    """``return`` / ``return None`` -> leave the check; ``return X`` -> answer = X; leave."""

    def __init__(self, answer: str) -> None:
        self.answer = answer

    def visit_Return(self, node: ast.Return) -> list[ast.stmt]:
        value = node.value
        if value is None or (isinstance(value, ast.Constant) and value.value is None):
            return [ast.Break()]
        assign = ast.Assign(targets=[ast.Name(self.answer, ast.Store())], value=value)
        return [ast.copy_location(assign, node), ast.Break()]


if __name__ == "__main__":  # pragma: no cover - a reader's tool
    from risk.overlay import RiskOverlay

    for name in RiskOverlay.__dict__["_composed_fns"]:
        print(composed_source(RiskOverlay, name))
