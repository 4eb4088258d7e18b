"""Layers import downward only: every `edgekit` import in the source (lazy ones inside
functions included) goes to the module's own package or to a package below it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from conftest import REPO

# folder on disk -> import name (pyproject's package-dir)
ROOTS = {
    "edgekit": "edgekit",
    "quant": "edgekit.quant",
    "runtime": "edgekit.runtime",
    "kb": "edgekit.kb",
    "packaging/bundle": "edgekit.bundle",
}

# Lowest first. A module may import its own layer and the layers listed before it (and a
# separate test forbids cycles between packages). The longest matching prefix names a
# module's package.
LAYERS: list[tuple[str, list[str]]] = [
    (
        "foundation",
        [
            "edgekit.__init__",
            "edgekit.errors",
            "edgekit.fsutil",
            "edgekit.memory",
            "edgekit.native",
            "edgekit.deps",
            "edgekit.model_records",
            "edgekit.sbom",
            "edgekit.resources",
            "edgekit.plots",
            "edgekit.terminal",
        ],
    ),
    ("format", ["edgekit.bundle"]),
    ("knowledge base", ["edgekit.kb"]),
    ("quantization", ["edgekit.quant"]),
    ("site runtime", ["edgekit.runtime"]),
    ("build settings", ["edgekit.config"]),
    ("models", ["edgekit.models", "edgekit.tensorfiles", "edgekit.merge", "edgekit.generate"]),
    ("qa sets and evaluation", ["edgekit.qa"]),
    ("training data", ["edgekit.data"]),
    ("behaviour evaluation", ["edgekit.behaviour"]),
    ("training", ["edgekit.train"]),
    ("build pipeline", ["edgekit.pipeline"]),
    ("cli", ["edgekit.cli", "edgekit.init", "edgekit.__main__"]),
]
PACKAGE_RANK = {pkg: rank for rank, (_, pkgs) in enumerate(LAYERS) for pkg in pkgs}


def module_name(path: Path) -> str:
    for folder, name in sorted(ROOTS.items(), key=lambda kv: -len(kv[0])):
        root = REPO / folder
        if path.is_relative_to(root):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts == ["__init__"] and name == "edgekit":
                return "edgekit.__init__"
            return ".".join([name, *[p for p in parts if p != "__init__"]])
    raise ValueError(path)


def package_of(module: str) -> str:
    best = ""
    for pkg in PACKAGE_RANK:
        if (module == pkg or module.startswith(pkg + ".")) and len(pkg) > len(best):
            best = pkg
    if not best:
        raise AssertionError(f"{module} belongs to no layer: add it to LAYERS")
    return best


def imports_of(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, imported module) for every edgekit import anywhere in the file."""
    tree = ast.parse(path.read_text(), str(path))
    is_pkg = path.name == "__init__.py"
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")
                parts = parts[: len(parts) - node.level + (1 if is_pkg else 0)]
                base = ".".join(parts + ([base] if base else []))
            # `from edgekit import fsutil` imports the module edgekit.fsutil
            targets = [_submodule(base, a.name) for a in node.names] if base else [base]
            found += [(node.lineno, t) for t in targets]
    return [(line, t) for line, t in found if t == "edgekit" or t.startswith("edgekit.")]


def _submodule(base: str, name: str) -> str:
    """`from base import name`: the module base.name when there is one, else base."""
    folder = dict((v, k) for k, v in ROOTS.items())
    for pkg, root in folder.items():
        if base == pkg or base.startswith(pkg + "."):
            rest = base[len(pkg) :].strip(".").split(".") if base != pkg else []
            where = REPO / root / Path(*rest) / name if rest else REPO / root / name
            if where.with_suffix(".py").is_file() or where.is_dir():
                return f"{base}.{name}"
    return "edgekit.__init__" if base == "edgekit" else base


def sources() -> list[Path]:
    return [p for folder in ROOTS for p in sorted((REPO / folder).rglob("*.py"))]


def upward_imports() -> list[str]:
    bad = []
    for path in sources():
        module = module_name(path)
        own = package_of(module)
        for line, target in imports_of(path, module):
            if target == "edgekit":
                target = "edgekit.__init__"
            other = package_of(target)
            if PACKAGE_RANK[other] > PACKAGE_RANK[own]:
                where = f"{path.relative_to(REPO)}:{line}"
                bad.append(f"{where}: {own} ({LAYERS[PACKAGE_RANK[own]][0]}) imports {target}")
    return bad


def test_every_import_goes_downward():
    bad = upward_imports()
    assert not bad, "upward or sideways imports:\n" + "\n".join(bad)


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sources():
        module = module_name(path)
        own = package_of(module)
        for _, target in imports_of(path, module):
            other = package_of("edgekit.__init__" if target == "edgekit" else target)
            if other != own:
                graph.setdefault(own, set()).add(other)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_between_packages():
    assert cycles(package_graph()) == []


def module_graph() -> dict[str, set[str]]:
    """Module -> the modules it imports (lazy imports inside functions included)."""
    known = {module_name(p) for p in sources()}
    graph: dict[str, set[str]] = {}
    for path in sources():
        module = module_name(path)
        for _, target in imports_of(path, module):
            target = "edgekit.__init__" if target == "edgekit" else target
            if target != module and target in known:
                graph.setdefault(module, set()).add(target)
    return graph


def test_no_import_cycle_between_modules():
    """A lazy import must not hide a cycle: two modules that need each other are one."""
    assert cycles(module_graph()) == []


def test_the_checker_sees_a_lazy_upward_import(tmp_path):
    mod = tmp_path / "m.py"
    mod.write_text("def f():\n    from edgekit.runtime.answer.session import ChatSession\n")
    assert imports_of(mod, "edgekit.kb.m") == [(2, "edgekit.runtime.answer.session")]
    assert PACKAGE_RANK[package_of("edgekit.runtime.answer.session")] > PACKAGE_RANK["edgekit.kb"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_every_edgekit_import_resolves():
    """Lazy imports too: a name moved to another module fails here, not in a user's build."""
    import importlib

    missing = []
    for path in sources() + sorted((REPO / "bench").glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.ImportFrom) and (node.module or "").startswith("edgekit")):
                continue
            if node.level:
                continue
            module = importlib.import_module(node.module)
            for alias in node.names:
                if hasattr(module, alias.name):
                    continue
                try:
                    importlib.import_module(f"{node.module}.{alias.name}")
                except ImportError:
                    missing.append(
                        f"{path.relative_to(REPO)}:{node.lineno} {node.module}.{alias.name}"
                    )
    assert not missing, "imports of names that do not exist:\n" + "\n".join(missing)


def test_no_manifest_key_spelled_outside_the_format():
    """Callers read and write the manifest through `edgekit.bundle.meta`'s types."""
    spelled = []
    for path in sources():
        if path.is_relative_to(REPO / "packaging" / "bundle"):
            continue
        for n, line in enumerate(path.read_text().splitlines(), start=1):
            if re.search(r"\b(?:mf|manifest)\.K_[A-Z0-9_]+", line):
                spelled.append(f"{path.relative_to(REPO)}:{n}: {line.strip()}")
    assert not spelled, "manifest keys spelled outside edgekit.bundle:\n" + "\n".join(spelled)


def test_modules_and_functions_stay_small():
    """Modules under 400 lines, functions under 80: small pieces that read top-down."""
    big = []
    for path in sources():
        text = path.read_text()
        rel = path.relative_to(REPO)
        if len(text.splitlines()) > 400:
            big.append(f"{rel}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > 80:
                    big.append(f"{rel}:{node.lineno} {node.name}(): {length} lines")
    assert not big, "too big:\n" + "\n".join(big)
