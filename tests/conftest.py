"""Shared fixtures: a private EDGEKIT_HOME and one tiny-random project built per session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# llama.cpp in tests runs beside the test's own clients and builds on the same 2 cores: one
# thread, as before the physical-core default, keeps the suite's time (answers do not
# depend on the thread count). Tests of the default itself unset it.
os.environ.setdefault("EDGEKIT_THREADS", "1")
# Under pytest-xdist (make test: 2 workers on 2 cores) each worker's torch, onnxruntime and
# OpenMP take their share of the cores, not all of them: oversubscribed spinning threads
# made the mine-safety build take over 1800 s beside the other worker (644 s alone).
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // _WORKERS)))


@pytest.fixture(scope="session", autouse=True)
def edgekit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Never touch the user's ~/.cache/edgekit from tests."""
    home = tmp_path_factory.mktemp("edgekit-home")
    os.environ["EDGEKIT_HOME"] = str(home)
    return home


@pytest.fixture(scope="session")
def tiny_model(edgekit_home: Path):
    from edgekit.models import prepare_model

    return prepare_model("builtin:tiny-random")


@pytest.fixture(scope="session")
def tiny_project(tmp_path_factory: pytest.TempPathFactory, tiny_model):
    """`edgekit init` + `edgekit build` on builtin:tiny-random, once per session."""
    from rich.console import Console

    from edgekit.config import load_config
    from edgekit.init import init_project
    from edgekit.pipeline import build

    folder = tmp_path_factory.mktemp("tinyproj") / "tiny"
    config = init_project(folder, base="builtin:tiny-random")
    result = build(load_config(config), console=Console(stderr=True, quiet=True))
    return config, result


@pytest.fixture(scope="session")
def extract_bundle(tmp_path_factory: pytest.TempPathFactory, tiny_model) -> Path:
    """A tiny-random bundle pinned to the `extract` prompt style (answers are the span,
    then the quoted sentence with the span marked; no model call), no QA eval."""
    from rich.console import Console

    from edgekit.config import load_config
    from edgekit.init import init_project
    from edgekit.pipeline import build

    folder = tmp_path_factory.mktemp("extract") / "site"
    config = init_project(folder, base="builtin:tiny-random")
    edit_config(config, {"prompt.prompt_style": "extract", **NO_QA})
    return build(load_config(config), console=Console(stderr=True, quiet=True)).bundle


def edit_config(path: Path, changes: dict[str, object]) -> None:
    """Set dotted keys (``"eval.qa.enabled"``) in a project's edgekit.yaml."""
    import yaml

    data = yaml.safe_load(path.read_text())
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        node = data
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False))


# Builds whose test is not about answers skip the QA eval stage (it answers dozens of
# questions with the real model: minutes on 2 cores); tests/test_eval_qa.py and the
# mine-safety example run it.
NO_QA = {"eval.qa.enabled": False}


def run_cli(
    *args: str, check: bool = False, timeout: float = 300, **kw
) -> subprocess.CompletedProcess:
    """Run the real `edgekit` command in a subprocess (same interpreter, same env)."""
    proc = subprocess.run(
        [sys.executable, "-m", "edgekit", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        **kw,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"edgekit {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


# `make test` runs the files on 2 workers (pytest-xdist, --dist loadfile, in this order): the
# longest files start first so that no long file starts last and runs alone at the end.
# Measured alone on 2 cores (pytest --durations): mine-safety ~570 s, adapters ~420 s, the
# llama-server upstreams (a ~10 min llama-server build on a fresh machine) and HTTP hardening
# ~300 s each. Any other file keeps its place after these.
LONGEST_FIRST = (
    "test_mine_safety.py",
    "test_upstream.py",
    "test_adapters.py",
    "test_http_hardening.py",
    "test_qwen_chain.py",
    "test_install.py",
    "test_train.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: rest in order
