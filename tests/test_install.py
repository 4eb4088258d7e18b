"""Offline install on site: wheelhouse in the bundle, install.sh in a fresh venv with no
network (a new network namespace, checked to hold only loopback; PIP_NO_INDEX as well), then
chat. Where no network namespace can be made the test fails and says why: it never runs the
install with the network on."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_cli

# Ways to run a command with no network, tried in this order: a network namespace
# (needs CAP_SYS_ADMIN, e.g. root), then one inside a new user namespace (unprivileged
# where the kernel allows user namespaces).
ISOLATION_MODES = (
    ("unshare -n (network namespace)", ["-n"]),
    ("unshare -rn (user + network namespace)", ["-r", "-n"]),
)
_INTERFACES = "import socket; print(' '.join(sorted(n for _, n in socket.if_nameindex())))"


def network_isolation() -> tuple[list[str], str]:
    """(command prefix, mode) for running with no network: the first mode whose namespace
    really holds nothing but loopback. Raises AssertionError, saying what was tried and why
    it failed, when none works: the offline install must never run with the network on."""
    unshare = shutil.which("unshare")
    if unshare is None:
        raise AssertionError(
            "cannot isolate the network: no `unshare` (util-linux) on this machine, so the "
            "offline install would run with the network on. Install util-linux."
        )
    tried = []
    for mode, flags in ISOLATION_MODES:
        prefix = [unshare, *flags, "--"]
        proc = subprocess.run(
            [*prefix, sys.executable, "-c", _INTERFACES], capture_output=True, text=True
        )
        if proc.returncode == 0 and proc.stdout.split() == ["lo"]:
            return prefix, mode
        tried.append(
            f"  {mode}: exit {proc.returncode}, interfaces {proc.stdout.split()}, "
            f"{proc.stderr.strip()[-300:]}"
        )
    raise AssertionError(
        "cannot isolate the network, so the offline install would run with the network on. "
        "Tried:\n" + "\n".join(tried) + "\nRun this test as root or with CAP_SYS_ADMIN "
        "(docker: --cap-add SYS_ADMIN), or where unprivileged user namespaces are allowed "
        "(sysctl kernel.unprivileged_userns_clone=1 / user.max_user_namespaces > 0)."
    )


@pytest.mark.slow
def test_offline_install_from_the_wheelhouse_then_chat(tiny_model, tmp_path: Path, record_property):
    from edgekit.init import init_project

    # first, so a machine that cannot isolate fails at once (not after the build)
    offline, mode = network_isolation()
    record_property("network_isolation", mode)
    print(f"network isolation: {mode}")

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
    assert proc.returncode == 0, f"[isolation: {mode}]\n{proc.stdout}{proc.stderr}"
    assert f"installed {bundle.name}" in proc.stdout, f"[isolation: {mode}]\n{proc.stdout}"
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
    assert chat.returncode == 0, f"[isolation: {mode}]\n{chat.stdout}{chat.stderr}"

    # a tampered archive is refused before anything is installed
    bad = tmp_path / "bad.tar"
    data = bytearray(tar.read_bytes())
    at = data.find(b"GGUF") + 4096  # inside the model's tensor data
    data[at] ^= 0xFF
    bad.write_bytes(bytes(data))
    refused = subprocess.run(
        [*offline, "sh", str(bundle / "install" / "install.sh"), str(bad)]
        + ["--root", str(tmp_path / "r2")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert refused.returncode != 0 and "refusing a corrupt bundle" in refused.stderr
    assert not (tmp_path / "r2" / "current").exists()
