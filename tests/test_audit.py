"""The audit log: torn lines survive a restart, truncation and rewrites are caught, the
chain is keyed, text is opt-in; and a real `edgekit serve` killed with -9 mid-stream
restarts on the same log, which then verifies."""

from __future__ import annotations

import json
import logging
import os
import signal
import stat
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from adapter_util import site_copy
from click.testing import CliRunner
from serving import RunningServer

from conftest import run_cli
from edgekit.cli import cli
from edgekit.errors import AuditError
from edgekit.runtime.site.audit import (
    GENESIS,
    AuditLog,
    create_key,
    default_key_path,
    head_path,
    line_hash,
)
from edgekit.runtime.site.audit_verify import verify_log


def _log(tmp_path: Path, n: int = 3) -> tuple[Path, AuditLog]:
    path = tmp_path / "site.audit.jsonl"
    audit = AuditLog(path)
    for i in range(n):
        audit.append(key_id="k1", answer_sha256=f"{i:064x}", completion_tokens=i)
    return path, audit


def _rows(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def _verify_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["audit", "verify", *args])
    return result.exit_code, result.output


def test_torn_last_line_opens_warns_and_the_chain_goes_on(tmp_path: Path, caplog):
    path, _ = _log(tmp_path)
    good = _rows(path)
    whole = json.dumps({**good[-1], "completion_tokens": 99}, sort_keys=True)
    with open(path, "a") as f:  # what kill -9 in the middle of a write leaves
        f.write(whole[: len(whole) // 2])
    torn_bytes = len(whole) // 2
    code, out = _verify_cli(str(path))  # before any restart: a known, unrecorded tear
    assert code == 0 and "line 4 at the end: torn" in out, out

    with caplog.at_level(logging.WARNING, logger="edgekit.serve"):
        audit = AuditLog(path)  # json.loads of the torn line used to crash here
    assert any("torn" in r.getMessage() and "line(s) 4" in r.getMessage() for r in caplog.records)
    audit.append(key_id="k1", answer_sha256="f" * 64, completion_tokens=5)

    lines = path.read_text().splitlines()
    assert len(lines) == 6 and lines[3] == whole[:torn_bytes]
    record, after = json.loads(lines[4]), json.loads(lines[5])
    assert record["event"] == "torn_lines" and record["lines"] == [4]
    assert record["bytes"] == [torn_bytes]
    assert record["prev"] == good[-1]["hash"]  # chained to the last good line
    assert after["prev"] == record["hash"]
    report = verify_log(path)
    assert report.ok, report.problems
    assert report.lines == 5 and any("records line 4" in n for n in report.notes)
    code, out = _verify_cli(str(path))
    assert code == 0 and "NOTE line 5 records line 4" in out and "chain intact" in out


def test_a_second_restart_after_a_tear_adds_nothing(tmp_path: Path):
    path, _ = _log(tmp_path, 2)
    with open(path, "a") as f:
        f.write('{"answer_sha')
    AuditLog(path)
    size = path.stat().st_size
    AuditLog(path)
    assert path.stat().st_size == size and verify_log(path).ok


def test_truncating_one_line_fails_verify(tmp_path: Path):
    path, _ = _log(tmp_path)
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-1]))  # a whole line cut off the end
    report = verify_log(path)
    assert not report.ok
    assert any("the head record says 3 lines, the log has 2" in p for p in report.problems)
    code, out = _verify_cli(str(path))
    assert code == 1 and "lines were cut off the end" in out


def test_truncation_found_at_start_stays_on_record(tmp_path: Path, caplog):
    path, _ = _log(tmp_path)
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:-1]))
    with caplog.at_level(logging.ERROR, logger="edgekit.serve"):
        AuditLog(path).append(key_id="k1")  # serves on, but says so and records it
    assert any("cut off the end" in r.getMessage() for r in caplog.records)
    assert _rows(path)[2]["event"] == "audit_gap"
    report = verify_log(path)
    assert not report.ok and any("line 3: at start the server found" in p for p in report.problems)


def test_deleting_the_head_is_caught(tmp_path: Path):
    path, _ = _log(tmp_path)
    head_path(path).unlink()
    report = verify_log(path)
    assert not report.ok and any("no head record" in p for p in report.problems)
    AuditLog(path)  # the next start records the missing head
    assert not verify_log(path).ok and _rows(path)[-1]["event"] == "audit_gap"


def _rewrite_plain(path: Path, edit: dict, keep_hmac: bool) -> None:
    """What someone without the key can do: edit line 2, recompute every sha256 and link."""
    prev, out = GENESIS, []
    for i, row in enumerate(_rows(path)):
        row = {**row, **(edit if i == 1 else {}), "prev": prev}
        if not keep_hmac:
            row.pop("hmac")
        row["hash"] = line_hash(row)
        prev = row["hash"]
        out.append(json.dumps(row, sort_keys=True) + "\n")
    path.write_text("".join(out))


def test_rewrite_with_recomputed_sha256_fails_verify(tmp_path: Path):
    path, _ = _log(tmp_path)
    _rewrite_plain(path, {"completion_tokens": 7}, keep_hmac=True)
    report = verify_log(path)
    assert not any("content does not match" in p for p in report.problems)  # sha256 fine
    assert "line 2: keyed hash (hmac) does not match: rewritten without the key" in (
        report.problems
    )
    assert any("head record" in p for p in report.problems)


def test_downgrade_to_an_unkeyed_log_fails_verify(tmp_path: Path):
    path, _ = _log(tmp_path)
    _rewrite_plain(path, {"completion_tokens": 7}, keep_hmac=False)
    head_path(path).unlink()
    report = verify_log(path)
    assert not report.ok and report.legacy
    assert any("unkeyed (legacy)" in p for p in report.problems)


def test_wrong_key_fails_and_the_right_key_passes(tmp_path: Path):
    path, audit = _log(tmp_path)
    other = tmp_path / "other.key"
    assert create_key(other)
    report = verify_log(path, other)
    assert not report.ok and any(p.startswith("wrong key: none of the 3") for p in report.problems)
    moved = tmp_path / "safe" / "audit.key"
    moved.parent.mkdir()
    os.replace(audit.key_path, moved)
    code, out = _verify_cli(str(path))
    assert code == 1 and "no audit key" in out and "--key" in out
    code, out = _verify_cli(str(path), "--key", str(moved))
    assert code == 0 and "chain intact" in out, out
    with open(path, "a") as f:
        f.write('{"torn')
    before = path.read_bytes(), head_path(path).read_bytes()
    with pytest.raises(AuditError, match="was written with audit key"):
        AuditLog(path, key_path=other)  # serving on with another key would mix keys
    assert (path.read_bytes(), head_path(path).read_bytes()) == before  # refused, untouched


def test_legacy_unkeyed_log_is_named_then_sealed_by_a_start(tmp_path: Path):
    path = tmp_path / "old.audit.jsonl"
    prev, out = GENESIS, []
    for i in range(2):  # the format before audit keys: sha256 chain only
        row = {"time": "2026-01-01T00:00:00.000+00:00", "completion_tokens": i, "prev": prev}
        row["hash"] = prev = line_hash(row)
        out.append(json.dumps(row, sort_keys=True) + "\n")
    path.write_text("".join(out))
    report = verify_log(path)
    assert report.legacy and not report.ok
    code, text = _verify_cli(str(path))
    assert code == 1 and "unkeyed (legacy) log" in text and "Traceback" not in text
    AuditLog(path).append(completion_tokens=9)
    report = verify_log(path)
    assert report.ok, report.problems
    assert any("lines 1-2: unkeyed (legacy" in n for n in report.notes)


def test_key_files_are_private_never_replaced_and_found_in_an_install_root(tmp_path: Path):
    path, audit = _log(tmp_path, 1)
    assert audit.key_path == tmp_path / "site.audit.jsonl.key"
    assert stat.S_IMODE(audit.key_path.stat().st_mode) == 0o600
    key = audit.key_path.read_bytes()
    assert not create_key(audit.key_path) and audit.key_path.read_bytes() == key
    root = tmp_path / "opt"
    log = root / "current" / "bundle.audit.jsonl"
    (root / "releases" / "r1").mkdir(parents=True)
    (root / "current").symlink_to(Path("releases") / "r1")
    assert default_key_path(log) == log.with_name(log.name + ".key")  # no install key yet
    assert create_key(root / "audit.key")
    assert default_key_path(log) == root / "audit.key"
    assert default_key_path(root / "releases" / "r1" / "bundle.audit.jsonl") == root / "audit.key"


def test_install_creates_the_site_key_once(tiny_project, tmp_path: Path):
    from edgekit.runtime.serve.install import install_bundle

    _, result = tiny_project
    if result.tar is None:
        pytest.skip("the tiny build wrote no tar")
    root = tmp_path / "site"
    done = install_bundle(result.tar, root, reuse_python=True)
    assert done.audit_key == root / "audit.key"
    assert stat.S_IMODE(done.audit_key.stat().st_mode) == 0o600
    key = done.audit_key.read_bytes()
    install_bundle(result.tar, root, reuse_python=True)  # re-install keeps it
    assert done.audit_key.read_bytes() == key
    audit = AuditLog(root / "current" / "bundle.audit.jsonl")
    assert audit.key_path == root / "audit.key"


def _accounting(tmp_path: Path, audit_text: bool) -> dict:
    from edgekit.runtime.answer.path import AnswerPlan
    from edgekit.runtime.serve.accounting import Accounting
    from edgekit.runtime.serve.metrics import Metrics
    from edgekit.runtime.serve.planning import ServeRequest

    audit = AuditLog(tmp_path / f"text-{audit_text}.jsonl")
    server = SimpleNamespace(
        metrics=Metrics(),
        audit=audit,
        model_id="m",
        manifest_sha256="0" * 64,
        settings=SimpleNamespace(audit_text=audit_text, request_timeout=60),
    )
    messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "ctx + q"}]
    plan = AnswerPlan(messages, {"max_tokens": 8, "temperature": 0.0})
    lane = SimpleNamespace(label="main")
    request = ServeRequest(plan, 5, lane, question="Where is exit B?")
    acct = Accounting(server, "k1", request)
    acct.piece("Level ")
    acct.piece("4.")
    acct.finish("stop")
    return _rows(audit.path)[-1]


def test_question_and_answer_text_only_with_audit_text(tmp_path: Path):
    plain = _accounting(tmp_path, audit_text=False)
    assert "question" not in plain and "answer" not in plain and plain["answer_sha256"]
    full = _accounting(tmp_path, audit_text=True)
    assert full["question"] == "Where is exit B?" and full["answer"] == "Level 4."
    assert verify_log(tmp_path / "text-True.jsonl").ok
    help_text = CliRunner().invoke(cli, ["serve", "--help"]).output
    assert "--audit-text" in help_text and "--audit-key" in help_text


def _chat(stream: bool, max_tokens: int) -> dict:
    return {
        "model": "",
        "messages": [{"role": "user", "content": "What do I do when I hear a siren?"}],
        "max_tokens": max_tokens,
        "temperature": 1.0,
        "stream": stream,
        "kb": False,  # the model answers (with the KB the tiny bundle quotes a sentence)
    }


def _import_adapter(bundle: Path, work: Path) -> str:
    """A no-op LoRA on tiny-random, packaged, signed and imported (gate off: ~15 s)."""
    from adapter_util import eval_set, make_adapter

    from edgekit.models import prepare_model

    lora = make_adapter(prepare_model("builtin:tiny-random").path, work / "lora", 0.0)
    run_cli("keygen", "--out", str(work / "keys"), check=True)
    name = json.loads((bundle / "manifest.json").read_text())["name"]
    key, evals = work / "keys" / "edgekit.key", eval_set(work / "e.jsonl")
    package_args = ["--bundle-id", name, "--key", str(key), "--eval", str(evals)]
    run_cli(
        *("adapter", "package", str(lora), "--base", "builtin:tiny-random", *package_args),
        *("--version", "v1", "--out", str(work / "pkg")),
        check=True,
    )
    package = work / "pkg" / f"{name}-adapter-v1.tar"
    pub = work / "keys" / "edgekit.pub"
    run_cli(
        "adapter",
        "import",
        str(bundle),
        str(package),
        "--pubkey",
        str(pub),
        "--no-gate",
        check=True,
    )
    return "v1"


def _active(server: RunningServer) -> str:
    return httpx.get(f"{server.url}/admin/adapters").json()["active"]


def test_serve_killed_mid_stream_restarts_and_its_log_verifies(tiny_project, tmp_path: Path):
    _, result = tiny_project
    bundle = site_copy(result.bundle, tmp_path)
    version = _import_adapter(bundle, tmp_path)
    log = bundle.with_name(bundle.name + ".audit.jsonl")
    server = RunningServer(bundle, "--no-auth", "--slots", "1")
    try:
        assert _active(server) == version
        done = httpx.post(f"{server.url}/v1/chat/completions", json=_chat(False, 4))
        assert done.status_code == 200
        url = f"{server.url}/v1/chat/completions"
        with httpx.stream("POST", url, json=_chat(True, 400)) as resp:
            first = next(x for x in resp.iter_lines() if x.startswith("data: "))
            assert "chat.completion.chunk" in first
            os.kill(server.proc.pid, signal.SIGKILL)  # mid-stream
            server.proc.wait(timeout=30)
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
    assert server.proc.returncode == -signal.SIGKILL
    before = len(log.read_bytes().splitlines())

    again = RunningServer(bundle, "--no-auth", "--slots", "1")  # same bundle, same log
    try:
        assert _active(again) == version
        done = httpx.post(f"{again.url}/v1/chat/completions", json=_chat(False, 4))
        assert done.status_code == 200
    finally:
        again.stop()
    assert len(log.read_bytes().splitlines()) > before
    verify = run_cli("audit", "verify", str(log))
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "chain intact" in verify.stdout


def test_serve_starts_on_a_log_with_a_torn_last_line(tiny_project, tmp_path: Path):
    _, result = tiny_project
    bundle = site_copy(result.bundle, tmp_path)
    log = bundle.with_name(bundle.name + ".audit.jsonl")
    AuditLog(log).append(key_id="k1", completion_tokens=3)  # key and head where serve looks
    line = log.read_text().splitlines()[0]
    with open(log, "a") as f:  # the bytes a kill -9 in the middle of the next write leaves
        f.write(line[: len(line) // 3])
    server = RunningServer(bundle, "--no-auth", "--slots", "1")
    try:
        done = httpx.post(f"{server.url}/v1/chat/completions", json=_chat(False, 4))
        assert done.status_code == 200
    finally:
        server.stop()
    assert "line(s) 2 torn by an interrupted write" in server.log.read_text()
    verify = run_cli("audit", "verify", str(log))
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "NOTE line 3 records line 2" in verify.stdout
    assert "3 lines, chain intact" in verify.stdout


def test_a_second_process_cannot_write_the_same_log(tmp_path: Path):
    """Replicas behind a balancer must not share one chain: while this process writes a
    log, another process that opens it is refused with the fix, and the log is untouched."""
    import subprocess
    import sys

    path = tmp_path / "shared.audit.jsonl"
    audit = AuditLog(path)
    audit.append(key_id="k1", completion_tokens=1)
    before = path.read_bytes(), head_path(path).read_bytes()
    code = f"from edgekit.runtime.site.audit import AuditLog; AuditLog({str(path)!r}).append(x=1)"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert other.returncode != 0
    assert "another edgekit serve is writing" in other.stderr and "--audit-log" in other.stderr
    assert (path.read_bytes(), head_path(path).read_bytes()) == before
    audit.append(key_id="k1", completion_tokens=2)  # the writer goes on
    assert verify_log(path).ok
