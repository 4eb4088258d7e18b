"""Reading a bundle never changes it: every command that takes a bundle (or its KB) is run
on a copy, and afterwards every byte, every name and every folder is as it was."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import httpx
import pytest
from serving import RunningServer

from conftest import run_cli


def snapshot(root: Path) -> dict[str, str]:
    """relative path -> sha256 for files, 'dir' for folders (names and bytes, nothing else)."""
    state: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            state[rel] = "link:" + str(path.readlink())
        elif path.is_dir():
            state[rel] = "dir"
        else:
            state[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def changes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    out = [f"removed {p}" for p in before.keys() - after.keys()]
    out += [f"added {p}" for p in after.keys() - before.keys()]
    out += [f"changed {p}" for p in before.keys() & after.keys() if before[p] != after[p]]
    return sorted(out)


@pytest.fixture(scope="module")
def bundle(tiny_project, tmp_path_factory: pytest.TempPathFactory) -> Path:
    _, result = tiny_project
    copy = tmp_path_factory.mktemp("ro") / result.bundle.name
    shutil.copytree(result.bundle, copy)
    return copy


READ_COMMANDS = {
    "bundle verify": ["bundle", "verify", "{b}"],
    "bundle inspect": ["bundle", "inspect", "{b}"],
    "bundle report": ["bundle", "report", "{b}"],
    "kb query hybrid": ["kb", "query", "{b}/kb", "ventilation fan"],
    "kb query bm25": ["kb", "query", "{b}/kb", "ventilation fan", "--mode", "bm25"],
    "kb stats": ["kb", "stats", "{b}/kb"],
    "chat": ["chat", "{b}", "What is ventilation?", "--max-tokens", "8"],
    "eval qa": ["eval", "qa", "{b}", "--split", "dev", "--max-tokens", "8"],
    "eval behaviour": ["eval", "behaviour", "{b}", "--limit", "2", "--max-tokens", "8"],
    "adapter list": ["adapter", "list", "{b}"],
    "doctor": ["doctor", "{b}"],
}


@pytest.mark.parametrize("name", list(READ_COMMANDS))
def test_read_command_leaves_bundle_byte_identical(bundle: Path, name: str, tmp_path: Path):
    before = snapshot(bundle)
    args = [a.replace("{b}", str(bundle)) for a in READ_COMMANDS[name]]
    proc = run_cli(*args, cwd=tmp_path)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout}\n{proc.stderr}"
    assert changes(before, snapshot(bundle)) == [], f"`edgekit {name}` changed the bundle"
    run_cli("bundle", "verify", str(bundle), check=True)


def test_serve_leaves_bundle_byte_identical(bundle: Path):
    before = snapshot(bundle)
    server = RunningServer(bundle, "--no-auth")
    try:
        body = {"model": bundle.name, "messages": [{"role": "user", "content": "ventilation?"}]}
        r = httpx.post(f"{server.url}/v1/chat/completions", json=body | {"max_tokens": 8})
        assert r.status_code == 200, r.text
        r = httpx.post(f"{server.url}/v1/embeddings", json={"input": "fan", "model": "kb"})
        assert r.status_code == 200, r.text
    finally:
        server.stop()
    assert changes(before, snapshot(bundle)) == [], "`edgekit serve` changed the bundle"
