"""Site-side KB: no torch, no network, a Chroma server on loopback, and the bundle's KB."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import run_cli
from edgekit.bundle import manifest as mf
from edgekit.bundle.verify import verify
from edgekit.kb.ingest import ingest_folder
from edgekit.kb.store import KnowledgeBase

# The no-egress guard of the site query below: records and refuses every connection that
# leaves loopback. test_the_no_egress_guard_catches_a_real_connection is its positive control.
GUARD = r"""
import json, socket, sys
attempts = []
_connect = socket.socket.connect
def guard(self, address):
    host = address[0] if isinstance(address, tuple) else str(address)
    if self.family in (socket.AF_INET, socket.AF_INET6) and not (
            host.startswith("127.") or host in ("::1", "localhost")):
        attempts.append(host)
        raise OSError(f"blocked non-loopback connection to {host}")
    return _connect(self, address)
socket.socket.connect = guard
"""

SITE_QUERY = (
    GUARD
    + r"""
from pathlib import Path
from edgekit.kb.store import KnowledgeBase
kb = KnowledgeBase.open(Path(sys.argv[1]))
hits = kb.query("At what methane level does the crew withdraw?", k=2)
print(json.dumps({"torch": "torch" in sys.modules, "transformers": "transformers" in sys.modules,
                  "attempts": attempts, "top": hits[0].source, "text": hits[0].text}))
"""
)


@pytest.fixture(scope="module")
def small_kb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    docs = tmp_path_factory.mktemp("d")
    (docs / "gas.md").write_text(
        "# Gas\n\n## Methane\n\nAt 1.25 percent methane the crew "
        "withdraws to intake air.\n\n## Dust\n\nWet down muck piles.\n"
    )
    db = tmp_path_factory.mktemp("k") / "kb"
    ingest_folder(docs, db)
    return db


def test_site_query_imports_no_torch_and_opens_no_outside_socket(small_kb: Path, tmp_path: Path):
    home = tmp_path / "home"
    (home / ".cache").mkdir(parents=True)
    # Chroma's default embedding function caches its download under ~/.cache/chroma: make
    # that path impossible to create (a file, which stops even root), so a download would fail.
    (home / ".cache" / "chroma").write_text("not a directory")
    env = {**os.environ, "HOME": str(home), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", SITE_QUERY, str(small_kb)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["torch"] is False and result["transformers"] is False
    assert result["attempts"] == []
    assert result["top"] == "gas.md" and "1.25 percent" in result["text"]


# Inside the guarded region: one connection to a routable address (the guard must refuse
# and record it) and one to a loopback server (the guard must let it through).
CONNECT_OUT_AND_IN = r"""
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(1)
errors = {}
for label, address in (("outside", ("10.255.255.1", 80)), ("loopback", server.getsockname())):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(address)
        errors[label] = None
    except OSError as exc:
        errors[label] = str(exc)
    finally:
        s.close()
print(json.dumps({"attempts": attempts, "errors": errors}))
"""


def test_the_no_egress_guard_catches_a_real_connection():
    """Positive control: were GUARD a no-op, `attempts == []` above would prove nothing."""
    proc = subprocess.run(
        [sys.executable, "-c", GUARD + CONNECT_OUT_AND_IN],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["attempts"] == ["10.255.255.1"]
    assert result["errors"] == {
        "outside": "blocked non-loopback connection to 10.255.255.1",
        "loopback": None,
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def chroma_server(tmp_path: Path):
    exe = Path(sys.executable).with_name("chroma")
    port = _free_port()
    proc = subprocess.Popen(
        [
            str(exe),
            "run",
            "--path",
            str(tmp_path / "srv"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("chroma server did not start")
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=30)


def test_same_code_against_a_chroma_server(chroma_server: str, tmp_path: Path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# Cage\n\nThe cage carries at most 40 people per trip.\n")
    (docs / "b.md").write_text("# Fans\n\nFans are checked weekly by the ventilation officer.\n")
    kb, report = ingest_folder(docs, tmp_path / "kb", server=chroma_server)
    assert report.chunks_embedded == 2
    assert not (tmp_path / "kb" / "chroma").exists()  # the vectors live on the server
    assert json.loads((tmp_path / "kb" / "kb.json").read_text())["server"] == chroma_server
    again = KnowledgeBase.open(tmp_path / "kb")
    assert again.query("how many people fit in the cage", k=1)[0].source == "a.md"
    proc = run_cli(
        "kb", "query", str(tmp_path / "kb"), "ventilation officer", "-k", "1", check=True
    )
    assert "b.md" in proc.stdout


def test_bundle_carries_the_kb_and_chat_cites_it(tiny_project):
    _, result = tiny_project
    kb_info = result.manifest[mf.K_KB]
    assert kb_info[mf.K_PATH] == "kb" and kb_info[mf.K_DOCUMENTS] == 2
    assert len(kb_info[mf.K_EMBEDDER_FINGERPRINT]) == 64
    # each retrieval value once: under runtime.answer, not again in the kb section
    assert set(kb_info) == {mf.K_PATH, mf.K_EMBEDDER_FINGERPRINT, mf.K_DOCUMENTS, mf.K_CHUNKS}
    answer = result.manifest[mf.K_RUNTIME][mf.K_ANSWER]
    assert {"top_k", "context_tokens", "fusion", "bm25_weight", "bm25_segmenter"} <= set(answer)
    files = {f[mf.K_PATH] for f in result.manifest[mf.K_FILES]}
    assert {"kb/kb.json", "kb/embedder/model.onnx", "kb/chroma/chroma.sqlite3"} <= files
    chat = run_cli(
        "chat",
        str(result.bundle),
        "What do I do when I hear a continuous siren?",
        "--max-tokens",
        "8",
        check=True,
    )
    assert "Sources:" in chat.stdout
    assert (
        "[1] docs/faq.md › Frequently Asked Questions > Q: What do I do when I hear a "
        "continuous siren?" in chat.stdout
    )
    no_kb = run_cli("chat", str(result.bundle), "hello", "--no-kb", "--max-tokens", "4", check=True)
    assert "Sources:" not in no_kb.stdout
    assert verify(result.bundle).ok  # reading the KB did not touch the bundle


def test_kb_cli_ingest_stats_query(tmp_path: Path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# Cage\n\n## Limits\n\nThe cage carries at most 40 people.\n")
    (docs / "bad.docx").write_bytes(b"not a zip")
    proc = run_cli("kb", "ingest", str(docs), "--db", str(tmp_path / "kb"), "--quiet", check=True)
    assert "1 added" in proc.stdout and "bad.docx" in proc.stderr
    stats = run_cli("kb", "stats", str(tmp_path / "kb"), check=True).stdout
    assert "documents:  1" in stats and "int8-dynamic-per-channel" in stats
    q = run_cli("kb", "query", str(tmp_path / "kb"), "cage people", "--section", check=True)
    assert "a.md › Cage > Limits" in q.stdout and "40 people" in q.stdout


def test_doctor_reports_zero_egress_on_a_tiny_bundle(tiny_project, tmp_path: Path):
    _, result = tiny_project
    proc = run_cli(
        "doctor", str(result.bundle), "--json", str(tmp_path / "doctor.json"), check=True
    )
    assert "result          PASS" in proc.stdout
    report = json.loads((tmp_path / "doctor.json").read_text())
    assert report["egress_attempts"] == [] and report["probe"]["torch_imported"] is False
    assert report["probe"]["kb_hits"] > 0 and report["probe"]["citations"] > 0


# A sitecustomize for the doctor's probe process: when the probe imports the bundle module
# (after installing its guard), try to leave the machine, then reach loopback and resolve a
# numeric address, and write down what each attempt met.
EGRESS_CONTROL = r"""
import importlib.abc, json, os, socket, sys

class EgressControl(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name != "edgekit.runtime.site.verified" or sys.argv[:1] != ["-c"]:
            return None
        sys.meta_path.remove(self)
        met = {}
        for label, address in (("outside", ("10.255.255.1", 80)), ("loopback", ("127.0.0.1", 9))):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(2)
            try:
                s.connect(address)
                met[label] = "connected"
            except OSError as exc:
                met[label] = str(exc)
            finally:
                s.close()
        socket.getaddrinfo("10.255.255.1", 80)  # numeric: no query leaves, but it is recorded
        with open(os.environ["EDGEKIT_EGRESS_CONTROL"], "w") as f:
            json.dump(met, f)
        return None

sys.meta_path.insert(0, EgressControl())
"""


def test_doctor_catches_a_real_connection_attempt(tiny_project, tmp_path: Path, monkeypatch):
    """Positive control for `doctor`: a connection attempted inside its probe is refused by
    the guard (not merely by the network namespace), reported, and fails the check."""
    from edgekit.runtime.serve.doctor import format_report, run_doctor

    _, result = tiny_project
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(EGRESS_CONTROL)
    met_file = tmp_path / "met.json"
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(hook), os.environ.get("PYTHONPATH")]))
    )
    monkeypatch.setenv("EDGEKIT_EGRESS_CONTROL", str(met_file))
    report = run_doctor(result.bundle)
    assert met_file.is_file(), f"the probe made no attempt: {report['probe']}"
    met = json.loads(met_file.read_text())
    assert met["outside"] == "egress blocked by edgekit doctor: 10.255.255.1", met
    assert "egress blocked" not in met["loopback"], met  # loopback is the guard's to allow
    assert report["egress_attempts"] == ["10.255.255.1:80", "dns:10.255.255.1"], report
    assert report["probe"]["chat_tokens"] is True  # the probe itself ran to the end
    assert report["result"] == "FAIL"
    text = format_report(report)
    assert "egress          2 attempt(s): 10.255.255.1:80, dns:10.255.255.1" in text
    assert "result          FAIL" in text
