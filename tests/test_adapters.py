"""Adapter reimport on site: signed package, eval gate, versions, rollback, kill -9 safety,
and hot swap in a running `edgekit serve` with zero failed requests."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest
from adapter_util import eval_set, make_adapter, site_copy
from serving import RunningServer

from conftest import NO_QA, edit_config, run_cli

pytestmark = pytest.mark.slow  # the gate needs a real model: SmolLM2-135M


@pytest.fixture(scope="module")
def hq(tmp_path_factory: pytest.TempPathFactory):
    """A SmolLM2 bundle, keys and three signed packages (no-op, slightly different, broken).

    builtin:tiny-random cannot tell a good adapter from a bad one: its final norm keeps
    every next-token distribution near uniform, whatever the adapter does."""
    from edgekit.models import prepare_model

    root = tmp_path_factory.mktemp("hq")
    run_cli("init", str(root / "proj"), check=True)
    cfg = root / "proj" / "edgekit.yaml"
    edit_config(cfg, {"quantize.measure": False, **NO_QA})
    built = run_cli("build", str(root / "proj" / "edgekit.yaml"), check=True, timeout=900)
    bundle = Path(built.stdout.split("bundle: ", 1)[1].splitlines()[0])
    run_cli("keygen", "--out", str(root / "keys"), check=True)
    run_cli("bundle", "sign", str(bundle), "--key", str(root / "keys" / "edgekit.key"), check=True)
    evals = eval_set(root / "eval.jsonl")
    name = json.loads((bundle / "manifest.json").read_text())["name"]
    base = prepare_model("builtin:smollm2-135m")
    packages = {}
    for version, scale in (("v1", 0.0), ("v2", 0.02), ("bad", 30.0)):
        adapter = make_adapter(base.path, root / f"adapter-{version}", scale, seed=3)
        run_cli(
            "adapter",
            "package",
            str(adapter),
            "--base",
            "builtin:smollm2-135m",
            "--bundle-id",
            name,
            "--key",
            str(root / "keys" / "edgekit.key"),
            "--eval",
            str(evals),
            "--version",
            version,
            "--out",
            str(root / "out"),
            check=True,
        )
        packages[version] = root / "out" / f"{name}-adapter-{version}.tar"
        assert packages[version].is_file()
    return root / "keys" / "edgekit.pub", packages, bundle


@pytest.fixture(scope="module")
def other_bundle(hq, tmp_path_factory: pytest.TempPathFactory, tiny_model) -> Path:
    """Another site's bundle: the same project name as hq's (so the same bundle name), built
    on builtin:tiny-random instead of SmolLM2."""
    from rich.console import Console

    from edgekit.config import load_config
    from edgekit.init import init_project
    from edgekit.pipeline import build

    _, _, hq_bundle = hq
    folder = tmp_path_factory.mktemp("other") / hq_bundle.parent.parent.name
    config = init_project(folder, base="builtin:tiny-random")
    edit_config(config, {"quantize.measure": False, **NO_QA})
    return build(load_config(config), console=Console(stderr=True, quiet=True)).bundle


def _import(bundle: Path, package: Path, pub: Path, **env: str):
    return run_cli(
        "adapter",
        "import",
        str(bundle),
        str(package),
        "--pubkey",
        str(pub),
        "--limit",
        "6",
        env={**os.environ, **env},
    )


def _active(bundle: Path) -> str | None:
    from edgekit.runtime.site.adapter_store import AdapterStore

    return AdapterStore(bundle).current()


def test_package_is_small_signed_and_carries_both_forms(hq):
    import tarfile

    pub, packages, built = hq
    with tarfile.open(packages["v1"]) as tf:
        names = {m.name.split("/", 1)[1] for m in tf.getmembers() if m.isfile()}
    assert {"manifest.json", "manifest.sig", "adapter.gguf", "eval.jsonl"} <= names
    assert "peft/adapter_model.safetensors" in names and "peft/adapter_config.json" in names
    bundle_size = sum(p.stat().st_size for p in built.rglob("*") if p.is_file())
    assert packages["v1"].stat().st_size < bundle_size / 2


def test_gate_accepts_refuses_then_rollback(hq, tmp_path: Path):
    pub, packages, built = hq
    bundle = site_copy(built, tmp_path)
    ok = _import(bundle, packages["v1"], pub)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "adapter v1 active (was none)" in ok.stdout and "package" in ok.stdout
    assert _active(bundle) == "v1"

    bad = _import(bundle, packages["bad"], pub)
    assert bad.returncode != 0
    assert "refused by the eval gate" in bad.stderr and "(v1) stays active" in bad.stderr
    row = next(line for line in bad.stdout.splitlines() if line.startswith("package"))
    current, candidate = (float(x) for x in row.split()[2:4])
    assert candidate > current * 1.05  # the numbers behind the refusal are printed
    assert _active(bundle) == "v1"
    assert "bad" not in run_cli("adapter", "list", str(bundle), check=True).stdout

    assert _import(bundle, packages["v2"], pub).returncode == 0
    assert _active(bundle) == "v2"
    listing = run_cli("adapter", "list", str(bundle), check=True).stdout
    assert "* v2" in listing and "  v1" in listing
    run_cli("adapter", "rollback", str(bundle), check=True)
    assert _active(bundle) == "v1"
    run_cli("adapter", "rollback", str(bundle), "base", check=True)
    assert _active(bundle) is None
    missing = run_cli("adapter", "rollback", str(bundle), "v9")
    assert missing.returncode != 0 and "not installed" in missing.stderr
    # the signed bundle itself never changes
    assert run_cli("bundle", "verify", str(bundle)).returncode == 0
    chat = run_cli("chat", str(bundle), "hello", "--max-tokens", "4", "--no-kb", check=True)
    assert chat.returncode == 0


def test_wrong_key_and_tampering_are_refused(hq, tmp_path: Path):
    import shutil

    pub, packages, built = hq
    bundle = site_copy(built, tmp_path)
    run_cli("keygen", "--out", str(tmp_path / "other"), check=True)
    wrong = _import(bundle, packages["v1"], tmp_path / "other" / "edgekit.pub")
    assert wrong.returncode != 0 and "wrong key" in wrong.stderr

    # a package whose adapter.gguf was swapped after signing
    root = _unpacked(packages["v1"], tmp_path / "tamper")
    shutil.copyfile(
        next((packages["bad"].parent).glob("*-bad/adapter.gguf")), root / "adapter.gguf"
    )
    tampered = _import(bundle, root, pub)
    assert tampered.returncode != 0 and "adapter.gguf: sha256 mismatch" in tampered.stderr
    assert _active(bundle) is None


def test_unsigned_package_is_refused_even_with_pubkey(hq, tmp_path: Path):
    """A package with no signature at all, imported WITH --pubkey: refused, not waved
    through because there was nothing to check."""
    import tarfile

    pub, packages, built = hq
    bundle = site_copy(built, tmp_path)
    root = _unpacked(packages["v1"], tmp_path / "unsigned")
    (root / "manifest.sig").unlink()
    unsigned = tmp_path / packages["v1"].name
    with tarfile.open(unsigned, "w") as tf:
        tf.add(root, arcname=root.name)
    refused = _import(bundle, unsigned, pub)
    assert refused.returncode != 0
    assert "manifest.sig: missing (the bundle is not signed)" in refused.stderr, refused.stderr
    assert _active(bundle) is None
    # without --pubkey at all the import asks for one (or a knowing --unsigned)
    nokey = run_cli("adapter", "import", str(bundle), str(packages["v1"]))
    assert nokey.returncode != 0 and "give --pubkey" in nokey.stderr
    assert _active(bundle) is None


def test_package_for_another_bundle_is_refused(hq, other_bundle: Path, tmp_path: Path):
    """Another site's bundle of the same name, built on another base model: the package's
    base-model hash differs from the bundle's, and the refusal names both."""
    import tarfile

    pub, packages, built = hq
    bundle = site_copy(other_bundle, tmp_path)
    theirs = json.loads((bundle / "manifest.json").read_text())
    assert theirs["name"] == json.loads((built / "manifest.json").read_text())["name"]
    with tarfile.open(packages["v1"]) as tf:
        member = next(m for m in tf.getmembers() if m.name.endswith("/manifest.json"))
        package = json.loads(tf.extractfile(member).read())
    assert package["bundle_id"] == theirs["name"]  # only the base model tells them apart
    trained_on, bundle_base = package["base_sha256"], theirs["provenance"]["model_sha256"]
    assert trained_on != bundle_base
    refused = _import(bundle, packages["v1"], pub)
    assert refused.returncode != 0
    assert (
        f"adapter was trained on base sha256 {trained_on[:12]}…, but this bundle's model is "
        f"{bundle_base[:12]}…" in refused.stderr
    ), refused.stderr
    assert _active(bundle) is None
    assert run_cli("bundle", "verify", str(bundle)).returncode == 0


def _unpacked(package: Path, work: Path) -> Path:
    """The folder inside a package tar, extracted under ``work``."""
    import tarfile

    with tarfile.open(package) as tf:
        tf.extractall(work, filter="data")
    return next(work.iterdir())


@pytest.mark.parametrize("step", ["after-unpack", "during-gate", "before-switch"])
def test_kill_9_during_import_keeps_the_previous_adapter(hq, tmp_path, step):
    pub, packages, built = hq
    bundle = site_copy(built, tmp_path)
    assert _import(bundle, packages["v1"], pub).returncode == 0
    killed = _import(bundle, packages["v2"], pub, EDGEKIT_CRASH_AT=step)
    assert killed.returncode == -signal.SIGKILL
    assert _active(bundle) == "v1"  # the pointer never half-switched
    assert run_cli("bundle", "verify", str(bundle)).returncode == 0
    chat = run_cli("chat", str(bundle), "hello", "--max-tokens", "2", "--no-kb")
    assert chat.returncode == 0, chat.stderr  # still serves the previous adapter
    again = _import(bundle, packages["v2"], pub)
    assert again.returncode == 0, again.stderr
    assert _active(bundle) == "v2"
    leftovers = [p.name for p in (bundle.parent / f"{bundle.name}.adapters").iterdir()]
    assert not [n for n in leftovers if n.startswith(".incoming-")]


def _wait_for_answers(results: list, sent_after: float, count: int = 2) -> None:
    """Until ``count`` requests sent after ``sent_after`` have been answered (60 s at most)."""
    deadline = time.monotonic() + 60
    while sum(t > sent_after for t, _, _ in results) < count:
        assert time.monotonic() < deadline, "no answers after the switch"
        time.sleep(0.2)


def _ask(http: httpx.Client, body: dict, stream: bool) -> tuple[int, str | None]:
    """(status, system_fingerprint) of one chat request; -2 for a stream cut before
    [DONE]."""
    if not stream:
        r = http.post("/v1/chat/completions", json=body)
        return r.status_code, r.json().get("system_fingerprint") if r.status_code == 200 else None
    with http.stream("POST", "/v1/chat/completions", json=body) as r:
        text = "".join(r.iter_text())
    if r.status_code != 200:
        return r.status_code, None
    if not text.rstrip().endswith("data: [DONE]"):
        return -2, None
    first = next(x for x in text.splitlines() if x.startswith("data: {"))
    return 200, json.loads(first[6:]).get("system_fingerprint")


def test_swap_under_concurrent_load_fails_no_request(hq, tmp_path: Path):
    pub, packages, built = hq
    bundle = site_copy(built, tmp_path)
    first = _import(bundle, packages["v1"], pub)
    assert first.returncode == 0, first.stderr
    server = RunningServer(
        bundle, "--no-auth", "--slots", "2", "--adapter-poll", "0.2", "--pubkey", str(pub)
    )
    results: list[tuple[float, int, str | None]] = []
    stop = threading.Event()

    def client(stream: bool) -> None:
        # a stream cut before [DONE] (-2), a transport error or any exception (-1) fails
        with httpx.Client(base_url=server.url, timeout=60) as http:
            while not stop.is_set():
                body = {
                    "messages": [{"role": "user", "content": "Say something."}],
                    "max_tokens": 24,
                    "stream": stream,
                }
                sent = time.monotonic()
                try:
                    results.append((sent, *_ask(http, body, stream)))
                except Exception as exc:  # noqa: BLE001 - recorded as a failure
                    results.append((sent, -1, f"{type(exc).__name__}: {exc}"))

    threads = [threading.Thread(target=client, args=(i % 2 == 0,)) for i in range(4)]
    try:
        for t in threads:
            t.start()
        time.sleep(2)
        imported = _import(bundle, packages["v2"], pub)
        assert imported.returncode == 0, imported.stderr
        # the window starts when the server says it serves v2 (loading the new lane takes
        # longer on a loaded machine), not when the import returned
        deadline = time.time() + 60
        while httpx.get(f"{server.url}/admin/adapters").json()["active"] != "v2":
            assert time.time() < deadline, "the server never switched to v2"
            time.sleep(0.1)
        switched_at = time.monotonic()
        # on a loaded machine an answer takes seconds: wait for answers sent after it
        _wait_for_answers(results, switched_at + 1.5)
        # and back again through the admin API
        r = httpx.post(f"{server.url}/admin/adapters/activate", json={"version": "v1"}, timeout=60)
        assert r.status_code == 200 and r.json()["active"] == "v1", r.text
        back_at = time.monotonic()
        _wait_for_answers(results, back_at + 0.2)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=120)
        server.stop()
    assert not any(t.is_alive() for t in threads), "a client thread never finished"
    statuses = [s for _, s, _ in results]
    assert len(results) > 20 and set(statuses) == {200}, [r for r in results if r[1] != 200]
    seen = [fp for _, _, fp in results]
    assert "adapter:v1" in seen and "adapter:v2" in seen
    # requests sent well after each switch ran on the new adapter
    after_swap = [fp for t, _, fp in results if switched_at + 1.5 < t < back_at - 0.2]
    assert after_swap and set(after_swap) == {"adapter:v2"}
    after_back = [fp for t, _, fp in results if t > back_at + 0.2]
    assert after_back and set(after_back) == {"adapter:v1"}
    log = (bundle.parent / f"{bundle.name}.audit.jsonl").read_text()
    assert '"adapter_to": "v2"' in log and '"adapter_to": "v1"' in log
