"""Offline install on site: wheelhouse in the bundle, install.sh in a fresh venv with no
network (unshare -n where the kernel allows it, PIP_NO_INDEX always), then chat."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import run_cli


def _no_network_prefix() -> list[str]:
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], capture_output=True).returncode == 0:
        return [unshare, "-n"]
    return []


@pytest.mark.slow
def test_offline_install_from_the_wheelhouse_then_chat(tiny_model, tmp_path: Path):
    from edgekit.init import init_project

    config = init_project(tmp_path / "proj", base="builtin:tiny-random")
    built = run_cli("build", str(config), "--wheelhouse", timeout=1800)
    assert built.returncode == 0, built.stdout + built.stderr
    bundle = Path(built.stdout.split("bundle: ", 1)[1].splitlines()[0])
    wheels = [p.name for p in (bundle / "wheelhouse").glob("*.whl")]
    assert any(w.startswith("llama_cpp_python-") for w in wheels)
    assert any(w.startswith("edgekit-") for w in wheels)
    assert not any(w.startswith("torch-") for w in wheels)  # the site extra has no torch
    run_cli("keygen", "--out", str(tmp_path / "keys"), check=True)
    run_cli(
        "bundle", "sign", str(bundle), "--key", str(tmp_path / "keys" / "edgekit.key"), check=True
    )
    tar = bundle.with_name(bundle.name + ".tar")

    offline = _no_network_prefix()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH"))}
    env.update(PIP_NO_INDEX="1", EDGEKIT_HOME=str(tmp_path / "site-home"))
    root = tmp_path / "site"
    pub = tmp_path / "keys" / "edgekit.pub"
    cmd = [*offline, "sh", str(bundle / "install" / "install.sh"), str(tar), "--root", str(root)]
    proc = subprocess.run(
        [*cmd, "--pubkey", str(pub)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"installed {bundle.name}" in proc.stdout
    edgekit = root / "current" / "venv" / "bin" / "edgekit"
    assert edgekit.is_file() and (root / "current" / "bundle" / "manifest.json").is_file()
    # the venv is the site's own: no torch, edgekit from the wheel (not this source tree)
    py = root / "current" / "venv" / "bin" / "python"
    probe = subprocess.run(
        [
            str(py),
            "-c",
            "import importlib.util as u, edgekit; print(u.find_spec('torch'), edgekit.__file__)",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert probe.stdout.startswith("None ") and str(root) in probe.stdout, (
        probe.stdout + probe.stderr
    )
    unit = (root / "edgekit.service").read_text()
    assert f"ExecStart={root}/current/venv/bin/edgekit serve {root}/current/bundle" in unit
    assert f"--pubkey {root}/trusted.pub" in unit

    chat = subprocess.run(
        [
            *offline,
            str(edgekit),
            "chat",
            str(root / "current" / "bundle"),
            "hello",
            "--max-tokens",
            "4",
            "--pubkey",
            str(root / "trusted.pub"),
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert chat.returncode == 0, chat.stdout + chat.stderr

    # a tampered archive is refused before anything is installed
    bad = tmp_path / "bad.tar"
    data = bytearray(tar.read_bytes())
    at = data.find(b"GGUF") + 4096  # inside the model's tensor data
    data[at] ^= 0xFF
    bad.write_bytes(bytes(data))
    refused = subprocess.run(
        ["sh", str(bundle / "install" / "install.sh"), str(bad), "--root", str(tmp_path / "r2")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert refused.returncode != 0 and "refusing a corrupt bundle" in refused.stderr
    assert not (tmp_path / "r2" / "current").exists()
