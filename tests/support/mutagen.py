"""Mutant generator for ``benchmarks/mutation.py``: plausible one-line bugs made from the AST.

``mutants_of(source, path)`` lists every mutant of one module; ``apply(source, mutant)``
returns the module's text with that one mutant in it (``ast.unparse`` of the mutated tree:
comments and layout are lost, the code is the same). Nothing here touches a file.

Operators (one mutant per site and variant):

- ``compare``: ``<`` <-> ``<=``, ``>`` <-> ``>=``, ``==`` <-> ``!=``, ``is`` <-> ``is not``,
  ``in`` <-> ``not in``
- ``binop`` (and augmented assignment): ``+`` <-> ``-``, ``*`` <-> ``/``, ``//`` -> ``/``,
  ``%`` -> ``//``, ``**`` -> ``*``, ``&`` <-> ``|``, ``<<`` <-> ``>>``
- ``boolop``: ``and`` <-> ``or``; ``unary``: ``not x`` -> ``x``, ``-x`` -> ``x``, ``~x`` -> ``x``
- ``constant``: an int ``n`` -> ``n + 1``, a float ``x`` -> ``x + 1``, ``True`` <-> ``False``
- ``drop-call``: a call used as a statement is removed (``pass``)
- ``swap-args``: the first two positional arguments of a call are swapped
- ``name``: ``min`` <-> ``max``, ``any`` <-> ``all``, ``mean`` <-> ``median`` (and the numpy
  ``nan``/``arg``/``idx`` forms), ``floor`` <-> ``ceil``, ``minimum`` <-> ``maximum``
- ``flow``: ``break`` <-> ``continue``

Not mutated, to keep the count on bugs that change a number or a decision: string constants
and f-strings (texts of messages), docstrings, type annotations, calls on a logger
(``log.info(...)`` and their arguments), ``if TYPE_CHECKING:`` blocks, and lines marked
``# pragma: no mutate`` or ``# pragma: no cover``.

A mutant's ``key`` (file, enclosing function, the code before and after) does not depend on
line numbers, so the list of equivalent mutants survives edits elsewhere in the file.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

_COMPARE = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
}
_BINOP = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Div,
    ast.Mod: ast.FloorDiv,
    ast.Pow: ast.Mult,
    ast.BitAnd: ast.BitOr,
    ast.BitOr: ast.BitAnd,
    ast.LShift: ast.RShift,
    ast.RShift: ast.LShift,
}
_NAME_PAIRS = [
    ("min", "max"),
    ("nanmin", "nanmax"),
    ("argmin", "argmax"),
    ("nanargmin", "nanargmax"),
    ("idxmin", "idxmax"),
    ("minimum", "maximum"),
    ("fmin", "fmax"),
    ("any", "all"),
    ("mean", "median"),
    ("nanmean", "nanmedian"),
    ("floor", "ceil"),
]
_NAME_SWAP = {a: b for a, b in _NAME_PAIRS} | {b: a for a, b in _NAME_PAIRS}
_LOGGERS = {"log", "logger", "_log", "LOG", "logging"}
_PRAGMA = re.compile(r"#\s*pragma:\s*no\s+(mutate|cover)")
_SHOW = 90  # characters of code shown per side in a mutant's description


@dataclass(frozen=True)
class Mutant:
    """One mutant of one module."""

    path: str  #: the module's path under src/, e.g. ``spt/prep/select.py``
    site: int  #: index of the mutated node in the generator's walk of the module
    variant: int  #: which of the node's mutations (a comparison may hold several operators)
    operator: str  #: compare, binop, boolop, unary, constant, drop-call, swap-args, name, flow
    lineno: int
    end_lineno: int
    function: str  #: qualified name of the enclosing function or class ("<module>" if none)
    runtime: bool  #: inside a function body (runs when called) rather than at import
    before: str
    after: str
    occurrence: int = 0  #: 1, 2, ... when the same key occurs several times in the module

    @property
    def key(self) -> str:
        """Stable name: path, function, code before and after (no line number)."""
        base = f"{self.path}::{self.function}::{self.before} -> {self.after}"
        return f"{base} [{self.occurrence}]" if self.occurrence else base

    @property
    def where(self) -> str:
        return f"src/{self.path}:{self.lineno}"


@dataclass
class _Site:
    node: ast.AST
    parent: ast.AST
    field: str
    index: int | None  # position in the parent's list field, None for a plain field
    operator: str
    variants: list[Callable[[ast.AST], ast.AST]]
    function: str
    runtime: bool


def _is_logger_call(node: ast.AST) -> bool:
    """``log.info(...)``, ``logger.warning(...)``, ``logging.debug(...)``."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id in _LOGGERS
    )


def _callee_name(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def _swap_callee(node: ast.Call) -> ast.Call:
    if isinstance(node.func, ast.Name):
        node.func.id = _NAME_SWAP[node.func.id]
    else:
        node.func.attr = _NAME_SWAP[node.func.attr]
    return node


class _Collector:
    """Walks a module in a fixed order and lists every mutation site."""

    def __init__(self, tree: ast.Module, skip_lines: set[int]) -> None:
        self.sites: list[_Site] = []
        self.skip_lines = skip_lines
        self._walk(tree, None, "", None, "<module>", False)

    # ------------------------------------------------------------------ traversal
    def _walk(
        self,
        node: ast.AST,
        parent: ast.AST | None,
        field: str,
        index: int | None,
        function: str,
        runtime: bool,
    ) -> None:
        if self._skipped(node):
            return
        if parent is not None:
            self._sites_of(node, parent, field, index, function, runtime)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            name = node.name if function == "<module>" else f"{function}.{node.name}"
            for i, dec in enumerate(node.decorator_list):
                self._walk(dec, node, "decorator_list", i, function, runtime)
            if isinstance(node, ast.ClassDef):
                for i, base in enumerate(node.bases):
                    self._walk(base, node, "bases", i, function, runtime)
                self._walk_list(node, "body", name, runtime)
            else:
                self._walk(node.args, node, "args", None, name, runtime)  # defaults: at def
                body = node.body
                start = 1 if body and _is_docstring(body[0]) else 0
                for i in range(start, len(body)):
                    self._walk(body[i], node, "body", i, name, True)
            return
        if isinstance(node, ast.Lambda):
            self._walk(node.args, node, "args", None, function, runtime)
            self._walk(node.body, node, "body", None, function, True)
            return
        if isinstance(node, ast.Module):
            body = node.body
            start = 1 if body and _is_docstring(body[0]) else 0
            for i in range(start, len(body)):
                self._walk(body[i], node, "body", i, function, runtime)
            return
        for name, value in ast.iter_fields(node):
            if name in {"annotation", "returns", "type_comment"}:
                continue
            if isinstance(value, list):
                for i, item in enumerate(value):
                    if isinstance(item, ast.AST):
                        self._walk(item, node, name, i, function, runtime)
            elif isinstance(value, ast.AST):
                self._walk(value, node, name, None, function, runtime)

    def _walk_list(self, node: ast.AST, field: str, function: str, runtime: bool) -> None:
        body = getattr(node, field)
        start = 1 if body and _is_docstring(body[0]) else 0
        for i in range(start, len(body)):
            self._walk(body[i], node, field, i, function, runtime)

    def _skipped(self, node: ast.AST) -> bool:
        if isinstance(node, ast.JoinedStr):  # f-string: the text of a message
            return True
        if isinstance(node, ast.Expr) and _is_logger_call(node.value):
            return True
        if _is_logger_call(node):
            return True
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            return True
        lineno = getattr(node, "lineno", None)
        return lineno is not None and lineno in self.skip_lines

    # ------------------------------------------------------------------ sites
    def _sites_of(
        self,
        node: ast.AST,
        parent: ast.AST,
        field: str,
        index: int | None,
        function: str,
        runtime: bool,
    ) -> None:
        variants: list[Callable[[ast.AST], ast.AST]] = []
        operator = ""
        if isinstance(node, ast.Compare):
            operator = "compare"
            for k, op in enumerate(node.ops):
                if type(op) in _COMPARE:
                    variants.append(_set_compare(k, _COMPARE[type(op)]))
        elif isinstance(node, ast.BinOp) and type(node.op) in _BINOP:
            if not (isinstance(node.op, ast.Mod) and _is_str(node.left)):
                operator = "binop"
                variants.append(_set_op(_BINOP[type(node.op)]))
        elif isinstance(node, ast.AugAssign) and type(node.op) in _BINOP:
            operator = "binop"
            variants.append(_set_op(_BINOP[type(node.op)]))
        elif isinstance(node, ast.BoolOp):
            operator = "boolop"
            variants.append(_set_op(ast.Or if isinstance(node.op, ast.And) else ast.And))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not | ast.USub | ast.Invert):
            operator = "unary"
            variants.append(lambda n: n.operand)
        elif isinstance(node, ast.Constant) and not isinstance(node.value, str | bytes):
            value = node.value
            if isinstance(value, bool):
                operator = "constant"
                variants.append(_set_constant(not value))
            elif isinstance(value, int | float) and not isinstance(value, complex):
                operator = "constant"
                variants.append(_set_constant(value + 1))
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            operator = "drop-call"
            variants.append(lambda n: ast.Pass())
        elif isinstance(node, ast.Break | ast.Continue):
            operator = "flow"
            variants.append(lambda n: ast.Continue() if isinstance(n, ast.Break) else ast.Break())
        if variants:
            self.sites.append(
                _Site(node, parent, field, index, operator, variants, function, runtime)
            )
        if isinstance(node, ast.Call):  # besides a drop-call of its statement
            extra: list[Callable[[ast.AST], ast.AST]] = []
            name = _callee_name(node)
            if name in _NAME_SWAP:
                extra.append(_swap_callee)
                self.sites.append(
                    _Site(node, parent, field, index, "name", extra, function, runtime)
                )
            args = node.args
            if (
                len(args) >= 2
                and not any(isinstance(a, ast.Starred) for a in args[:2])
                and ast.dump(args[0]) != ast.dump(args[1])
            ):
                self.sites.append(
                    _Site(node, parent, field, index, "swap-args", [_swap_args], function, runtime)
                )


def _is_docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and _is_str(stmt.value)


def _is_str(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _set_compare(k: int, new: type) -> Callable[[ast.AST], ast.AST]:
    def change(node: ast.AST) -> ast.AST:
        node.ops[k] = new()
        return node

    return change


def _set_op(new: type) -> Callable[[ast.AST], ast.AST]:
    def change(node: ast.AST) -> ast.AST:
        node.op = new()
        return node

    return change


def _set_constant(value: object) -> Callable[[ast.AST], ast.AST]:
    def change(node: ast.AST) -> ast.AST:
        node.value = value
        return node

    return change


def _swap_args(node: ast.AST) -> ast.AST:
    node.args[0], node.args[1] = node.args[1], node.args[0]
    return node


def _pragma_lines(source: str) -> set[int]:
    return {i for i, line in enumerate(source.splitlines(), 1) if _PRAGMA.search(line)}


def _sites(source: str) -> tuple[ast.Module, list[_Site]]:
    tree = ast.parse(source)
    return tree, _Collector(tree, _pragma_lines(source)).sites


def _put(site: _Site, node: ast.AST) -> None:
    if site.index is None:
        setattr(site.parent, site.field, node)
    else:
        getattr(site.parent, site.field)[site.index] = node


def _context(site: _Site) -> ast.AST | str:
    """What a mutant's description shows: a constant with what surrounds it, else the node."""
    if isinstance(site.node, ast.Constant):
        if isinstance(site.parent, ast.expr | ast.keyword | ast.Assign | ast.AnnAssign):
            return site.parent
        if isinstance(site.parent, ast.arguments):  # a default: name it
            a = site.parent
            if site.field == "defaults":
                names = [x.arg for x in (*a.posonlyargs, *a.args)]
                name = names[len(names) - len(a.defaults) + (site.index or 0)]
            else:
                name = a.kwonlyargs[site.index or 0].arg
            return f"{name}={ast.unparse(site.node)}"
    return site.node


def _text(node: ast.AST | str) -> str:
    return node if isinstance(node, str) else " ".join(ast.unparse(node).split())


def _window(before: str, after: str) -> tuple[str, str]:
    """Both texts cut to the part around their difference when they are long."""
    if max(len(before), len(after)) <= _SHOW:
        return before, after
    p = 0
    while p < min(len(before), len(after)) and before[p] == after[p]:
        p += 1
    s = 0
    while s < min(len(before), len(after)) - p and before[-1 - s] == after[-1 - s]:
        s += 1
    start = max(0, p - 30)
    cut = []
    for text in (before, after):
        end = min(len(text), max(len(text) - s + 30, start + 40))
        part = text[start:end]
        cut.append(("..." if start else "") + part + ("..." if end < len(text) else ""))
    return cut[0], cut[1]


def _snapshot(node: ast.AST) -> list[tuple[ast.AST, dict[str, object]]]:
    """Enough of ``node`` (and its callee) to undo an in-place variant."""
    keep = [node] + ([node.func] if isinstance(node, ast.Call) else [])
    return [(n, {k: list(v) if isinstance(v, list) else v for k, v in n.__dict__.items()})
            for n in keep]  # fmt: skip


def mutants_of(source: str, path: str) -> list[Mutant]:
    """Every mutant of the module ``source`` (its path under src/ is ``path``)."""
    _check_round_trip(source, path)
    out: list[Mutant] = []
    _, sites = _sites(source)
    for site_index, site in enumerate(sites):
        lineno, end = site.node.lineno, site.node.end_lineno or site.node.lineno
        for v, change in enumerate(site.variants):
            before = _text(_context(site))
            saved = _snapshot(site.node)
            new = change(site.node)
            _put(site, new)
            if new is site.node:
                after = _text(_context(site))
            else:
                after = "pass" if isinstance(new, ast.Pass) else _text(new)
            _put(site, site.node)  # undo: the walk's tree stays the original module
            for node, fields in saved:
                node.__dict__.update(fields)
            before, after = _window(before, after)
            out.append(
                Mutant(
                    path=path,
                    site=site_index,
                    variant=v,
                    operator=site.operator,
                    lineno=lineno,
                    end_lineno=end,
                    function=site.function,
                    runtime=site.runtime,
                    before=before,
                    after=after,
                )
            )
    counts = Counter(m.key for m in out)
    seen: Counter[str] = Counter()
    numbered = []
    for m in out:
        if counts[m.key] > 1:
            seen[m.key] += 1
            m = _replace(m, occurrence=seen[m.key])
        numbered.append(m)
    return numbered


def _replace(m: Mutant, **changes: object) -> Mutant:
    return Mutant(**{**m.__dict__, **changes})


def apply(source: str, mutant: Mutant) -> str:
    """The module's text with ``mutant`` applied (nothing is written anywhere)."""
    tree, sites = _sites(source)
    site = sites[mutant.site]
    if site.operator != mutant.operator or site.node.lineno != mutant.lineno:
        raise ValueError(f"{mutant.key}: the module changed since the mutants were listed")
    _put(site, site.variants[mutant.variant](site.node))
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def _check_round_trip(source: str, path: str) -> None:
    """``ast.unparse`` must give back the same program, else a mutant could hide a change."""
    tree = ast.parse(source)
    again = ast.parse(ast.unparse(tree))
    if ast.dump(tree) != ast.dump(again):
        raise ValueError(f"{path}: ast.unparse does not reproduce the module")


def iter_modules(names: list[str], src: object) -> Iterator[tuple[str, str]]:
    """(path under src/, dotted module name) of each module of the packages/modules ``names``."""
    from pathlib import Path

    root = Path(str(src))
    for name in names:
        base = root.joinpath(*name.split("."))
        if base.is_dir():
            for file in sorted(base.rglob("*.py")):
                rel = file.relative_to(root)
                dotted = ".".join(rel.with_suffix("").parts)
                yield rel.as_posix(), dotted.removesuffix(".__init__")
        else:
            file = base.with_suffix(".py")
            yield file.relative_to(root).as_posix(), name


__all__ = ["Mutant", "apply", "iter_modules", "mutants_of"]
