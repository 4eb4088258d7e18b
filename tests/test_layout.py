"""Packaging layout: every module imports under the one `edgekit` root; --help stays light."""

from __future__ import annotations

import importlib
import importlib.util
import json
import pkgutil
import subprocess
import sys

import edgekit
from conftest import REPO

MAPPED = ["edgekit.quant", "edgekit.runtime", "edgekit.kb", "edgekit.bundle"]
HEAVY = ["torch", "transformers", "chromadb", "llama_cpp", "peft", "onnxruntime"]


def test_mapped_packages_come_from_their_folders():
    where = {name: importlib.util.find_spec(name).submodule_search_locations[0] for name in MAPPED}
    assert where["edgekit.quant"].endswith("/quant")
    assert where["edgekit.runtime"].endswith("/runtime")
    assert where["edgekit.kb"].endswith("/kb")
    assert where["edgekit.bundle"].endswith("/packaging/bundle")
    assert not (REPO / "packaging" / "__init__.py").exists(), (
        "packaging/ would shadow pip's packaging"
    )


def test_every_module_imports():
    names = []
    for pkg in ["edgekit", *MAPPED]:
        mod = importlib.import_module(pkg)
        for info in pkgutil.walk_packages(mod.__path__, prefix=f"{pkg}."):
            if info.name.endswith("__main__"):
                continue
            importlib.import_module(info.name)
            names.append(info.name)
    assert "edgekit.bundle.verify" in names and "edgekit.quant.gguf" in names
    assert "edgekit.runtime.answer.session" in names and "edgekit.cli" in names


def test_the_packaging_library_is_not_shadowed():
    import packaging.version

    assert "site-packages" in packaging.version.__file__


def test_help_imports_no_heavy_library():
    code = (
        "import sys, json\n"
        "from click.testing import CliRunner\n"
        "from edgekit.cli import cli\n"
        "out = []\n"
        "for args in (['--help'], ['bundle', '--help'], ['model', '--help'], ['build', '--help'],"
        " ['chat', '--help'], ['quantize', '--help'], ['merge', '--help']):\n"
        "    r = CliRunner().invoke(cli, args)\n"
        "    assert r.exit_code == 0, r.output\n"
        "    out.append(r.output)\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print(json.dumps({'heavy': heavy, 'help': out[0]}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["heavy"] == []
    for command in ["init", "validate", "model", "merge", "quantize", "build", "bundle", "chat"]:
        assert f"  {command} " in result["help"], f"{command} missing from --help"


def test_version_flag():
    from click.testing import CliRunner

    from edgekit.cli import cli

    r = CliRunner().invoke(cli, ["--version"])
    assert r.exit_code == 0 and edgekit.__version__ in r.output
