"""An import inside a function is for a heavy module, the CLI's start time, or says why.

Heavy: a library whose import costs a `edgekit --help` or a site process start real time
(torch, llama_cpp, chromadb, pydantic, numpy, ...), or an edgekit module that imports one
at its top, directly or through other modules. The CLI (`edgekit.cli`) imports its verbs'
modules lazily so `--help` stays fast. Any other lazy import carries a ``# lazy: why``
comment (a POSIX-only module, a module found on sys.path at run time)."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

from test_layers import module_name, sources

from conftest import REPO

HEAVY_LIBRARIES = {
    "accelerate", "anyio", "chromadb", "click", "cryptography", "datasets", "docx",
    "fastapi", "gguf", "gptqmodel", "httpx", "huggingface_hub", "jieba", "jinja2",
    "llama_cpp", "matplotlib", "nacl", "numpy", "onnx", "onnxruntime", "openai", "optimum",
    "pandas", "peft", "PIL", "prometheus_client", "psutil", "pydantic", "pypdf", "rich",
    "safetensors", "scipy", "sentencepiece", "sklearn", "starlette", "tokenizers", "torch",
    "tqdm", "transformers", "trl", "uvicorn", "yaml",
}  # fmt: skip
LAZY_ANYWHERE = ("edgekit.cli", "edgekit.__main__", "edgekit.init")


@cache
def parsed() -> dict[str, tuple[Path, ast.Module]]:
    return {module_name(p): (p, ast.parse(p.read_text(), str(p))) for p in sources()}


def targets(node: ast.Import | ast.ImportFrom, module: str, is_pkg: bool) -> list[str]:
    """The modules an import statement loads (`from a import b`: a.b when it is a module)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = node.module or ""
    if node.level:
        parts = module.split(".")
        parts = parts[: len(parts) - node.level + (1 if is_pkg else 0)]
        base = ".".join(parts + ([base] if base else []))
    known = parsed()
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]


def split_imports(module: str) -> tuple[set[str], list[tuple[int, list[str]]]]:
    """(modules imported at the top, [(line, modules)] of imports inside functions)."""
    path, tree = parsed()[module]
    is_pkg = path.name == "__init__.py"
    inside = {
        id(n)
        for f in ast.walk(tree)
        if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
        for n in ast.walk(f)
        if isinstance(n, (ast.Import, ast.ImportFrom))
    }
    top: set[str] = set()
    lazy: list[tuple[int, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found = targets(node, module, is_pkg)
            if id(node) in inside:
                lazy.append((node.lineno, found))
            else:
                top.update(found)
    return top, lazy


@cache
def heavy(module: str, seen: frozenset[str] = frozenset()) -> bool:
    root = module.split(".")[0]
    if root != "edgekit":
        return root in HEAVY_LIBRARIES
    known = parsed()
    if module not in known or module in seen:
        return False
    parts = module.split(".")
    parents = {".".join(parts[:i]) for i in range(2, len(parts))} & set(known)
    return any(heavy(m, seen | {module}) for m in split_imports(module)[0] | parents)


def unexplained_lazy_imports() -> list[str]:
    bad = []
    for module, (path, _) in parsed().items():
        if module.startswith(LAZY_ANYWHERE):
            continue
        lines = path.read_text().splitlines()
        for line, found in split_imports(module)[1]:
            if "# lazy:" in lines[line - 1] or any(heavy(t) for t in found):
                continue
            bad.append(f"{path.relative_to(REPO)}:{line}: {', '.join(found)}")
    return bad


def test_lazy_imports_are_heavy_or_say_why():
    bad = unexplained_lazy_imports()
    assert not bad, "import at the module's top, or add '# lazy: why':\n" + "\n".join(bad)


def test_the_checker_sees_a_light_lazy_import():
    assert heavy("edgekit.kb.store") and heavy("torch")
    assert not heavy("edgekit.fsutil") and not heavy("json")
