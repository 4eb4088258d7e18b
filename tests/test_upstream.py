"""`edgekit serve --engine`: generation on real llama-server processes on 127.0.0.1, with
retrieval, citations, keys, metrics and audit in edgekit; failover when one is killed."""

from __future__ import annotations

import concurrent.futures as cf
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families
from serving import RunningServer, free_port, wait_ready

from conftest import REPO
from edgekit.runtime.answer.support import NOT_IN_EXCERPTS, NOT_IN_EXCERPTS_ZH
from edgekit.runtime.serve.auth import add_key
from edgekit.runtime.site.verified import open_bundle

pytestmark = pytest.mark.slow

QUESTIONS = [
    "How long does a self-rescuer last?",
    "What should I do when the gas alarm sounds?",
    "Who may enter a sealed area?",
    "What is checked at the start of a shift?",
]


@pytest.fixture(scope="module")
def llama_server() -> Path:
    """llama.cpp's own server, built once from the vendored llama.cpp and cached like the
    serving bench caches it (about 10 minutes on 2 cores the first time)."""
    sys.path.insert(0, str(REPO / "bench"))
    try:
        from llama_server import build_llama_server
    finally:
        sys.path.remove(str(REPO / "bench"))
    return build_llama_server()


class Upstream:
    """One llama-server on the bundle's GGUF, with the attention edgekit's engine uses
    (flash attention, f16 K, bf16 V: the per-row kernel, see answer_settings.Attention)."""

    def __init__(self, binary: Path, gguf: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [
            str(binary), "-m", str(gguf), "--host", "127.0.0.1", "--port", str(self.port),
            "-np", "4", "-c", "4096", "-t", "1", "-fa", "on", "-ctk", "f16", "-ctv", "bf16",
        ]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=open(log, "w"), stderr=subprocess.STDOUT)
        wait_ready(self.proc, f"{self.url}/health", log, 60)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


@pytest.fixture(scope="module")
def site(tiny_project, llama_server, tmp_path_factory):
    _, result = tiny_project
    bundle = result.bundle
    gguf = open_bundle(bundle).model_path()
    logs = tmp_path_factory.mktemp("upstream-logs")
    ups = [Upstream(llama_server, gguf, logs / f"up{i}.log") for i in range(2)]
    _, key = add_key(bundle, "user", "upstream-tests")
    own = RunningServer(bundle, "--slots", "2")
    front = RunningServer(
        bundle, "--engine", ",".join(u.url for u in ups), "--audit-log", str(logs / "a.jsonl")
    )
    yield {"bundle": bundle, "ups": ups, "own": own, "front": front, "key": key, "logs": logs}
    for s in (own, front):
        s.stop()
    for u in ups:
        u.kill()


def ask(url: str, key: str, question: str, kb: bool = True, max_tokens: int = 48) -> dict:
    r = httpx.post(
        f"{url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={
            "messages": [{"role": "user", "content": question}],
            "temperature": 0,
            "max_tokens": max_tokens,
            "kb": kb,
        },
        timeout=120,
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_upstream_answers_equal_the_built_in_engine_with_citations(site):
    """Greedy answers through two llama-server upstreams are the built-in engine's answers,
    token for token, with the same citations; the audit log records them."""
    for q in QUESTIONS:
        for kb in (True, False):
            mine = ask(site["own"].url, site["key"], q, kb=kb)
            theirs = ask(site["front"].url, site["key"], q, kb=kb)
            assert (
                theirs["choices"][0]["message"]["content"]
                == (mine["choices"][0]["message"]["content"])
            ), (q, kb)
            assert theirs["citations"] == mine["citations"]
            assert theirs["usage"] == mine["usage"]
            assert theirs["choices"][0]["finish_reason"] == mine["choices"][0]["finish_reason"]
    lines = (site["logs"] / "a.jsonl").read_text().splitlines()
    assert sum(1 for ln in lines if json.loads(ln).get("completion_tokens")) >= len(QUESTIONS)
    served = httpx.get(f"{site['front'].url}/ready").json()["upstreams"]
    assert [u["owner"] for u in served] == ["llamacpp", "llamacpp"]


# Retrieval finds excerpts for these, but no sentence holds a third of the question's
# words (the chosen `extract` style abstains); with the config's `cite` the model answers,
# and tiny-random's text is never held by the excerpts and must not be shown: the sentence
# sharing the most with the question is (quoted and cited), or the abstention in the
# question's language.
UNHELD = [
    ("Which spot is the muster point for visitors arriving by bus?", "muster point"),
    ("Which xylophone quasar zebra yodels loudest?", NOT_IN_EXCERPTS),
    ("木琴类星体斑马是什么？", NOT_IN_EXCERPTS_ZH),
]


def stream_text(url: str, key: str, question: str) -> tuple[str, list]:
    """The streamed answer to ``question`` (greedy, with the KB) and its last chunk."""
    client = openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=120)
    chunks = list(
        client.chat.completions.create(
            model="",
            messages=[{"role": "user", "content": question}],
            temperature=0,
            max_tokens=48,
            stream=True,
        )
    )
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices), chunks


def test_no_unsupported_model_text_through_chat_or_either_serve_lane(site):
    """The same question through `edgekit chat`, serve's own engine and serve's upstream
    lane (all with the config's `cite`), streamed and not: the model's text (not held by
    the excerpts) is replaced the same way everywhere; serve says so in `replaced`, its
    audit log and its metrics. The chosen `extract` abstains without asking the model."""
    key, bundle, logs = site["key"], site["bundle"], site["logs"]
    cite = {
        "own": RunningServer(
            bundle, "--slots", "1", "--config-settings", "--audit-log", str(logs / "own.jsonl")
        ),
        "front": RunningServer(
            bundle,
            "--engine",
            site["ups"][0].url,
            "--config-settings",
            "--audit-log",
            str(logs / "cite.jsonl"),
        ),  # fmt: skip
    }
    try:
        _unheld_answers_replaced(site, cite)
    finally:
        for server in cite.values():
            server.stop()
    chosen = ask(site["own"].url, key, UNHELD[1][0])
    assert chosen["choices"][0]["message"]["content"] == NOT_IN_EXCERPTS
    assert chosen["replaced"] is None


def _unheld_answers_replaced(site: dict, servers: dict) -> None:
    from conftest import run_cli

    key, bundle = site["key"], site["bundle"]
    for question, expected in UNHELD:
        chat = run_cli(
            "chat", str(bundle), question, "--max-tokens", "48", "--temperature", "0",
            "--config-settings", check=True,
        ).stdout  # fmt: skip
        shown = {"chat": chat.split("\nSources:")[0].strip()}
        reasons = set()
        for lane in ("own", "front"):
            r = ask(servers[lane].url, key, question)
            shown[lane] = r["choices"][0]["message"]["content"]
            text, chunks = stream_text(servers[lane].url, key, question)
            shown[lane + " streamed"] = text
            assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) == 1
            reasons |= {r["replaced"], chunks[-1].model_extra["replaced"]}
            cited = [c["text"] for c in r["citations"]]
        assert len(set(shown.values())) == 1, shown
        answer = shown["chat"]
        assert reasons and reasons <= {"unsupported", "degenerate"}, reasons
        if expected in (NOT_IN_EXCERPTS, NOT_IN_EXCERPTS_ZH):
            assert answer == expected
        else:
            sentence = answer.split("\n")[-1]
            assert sentence.startswith('"') and re.search(r'" \[\d\]$', sentence), answer
            assert expected in sentence.lower()
            quote = sentence[1 : sentence.rindex('"')].replace("**", "")
            assert any(quote in " ".join(t.split()) for t in cited), answer
    records = [json.loads(ln) for ln in (site["logs"] / "cite.jsonl").read_text().splitlines()]
    assert sum(1 for r in records if r.get("replaced")) >= 2 * len(UNHELD)
    metrics = httpx.get(
        f"{servers['own'].url}/metrics", headers={"Authorization": f"Bearer {key}"}
    ).text
    replaced = [
        s.value
        for fam in text_string_to_metric_families(metrics)
        for s in fam.samples
        if s.name == "edgekit_answers_replaced_total"
    ]
    assert sum(replaced) >= 2 * len(UNHELD)


def stream_one(url: str, key: str, n: int) -> tuple[str, int]:
    """('ok' | 'error-before-text' | 'error-after-text', content chunks received)."""
    client = openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=120)
    chunks = 0
    try:
        stream = client.chat.completions.create(
            model="",
            messages=[{"role": "user", "content": f"(ticket {n}) {QUESTIONS[n % 4]}"}],
            temperature=0,
            max_tokens=96,
            stream=True,
            extra_body={"kb": False},
        )
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                chunks += 1
    except openai.APIError:
        return ("error-after-text" if chunks else "error-before-text"), chunks
    return "ok", chunks


def test_killed_upstream_under_load_loses_no_request_that_had_not_streamed(site):
    """8 clients; one upstream is killed mid-load: every request that had not streamed text
    yet is answered by the other; one cut mid-answer ends with an error event (the openai
    client raises), never a hang; /metrics counts per upstream and shows the dead one down."""
    url, key = site["front"].url, site["key"]
    victim, survivor = site["ups"]
    results: list[tuple[str, int]] = []
    with cf.ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(stream_one, url, key, n) for n in range(48)]
        deadline = time.time() + 120
        while sum(f.done() for f in futures) < 8 and time.time() < deadline:
            time.sleep(0.05)
        victim.kill()
        results = [f.result(timeout=180) for f in futures]
    outcomes = [r[0] for r in results]
    assert "error-before-text" not in outcomes, outcomes
    assert outcomes.count("ok") >= 40, outcomes
    text = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {key}"}).text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }
    up = {dict(k[1])["upstream"]: v for k, v in samples.items() if k[0] == "edgekit_upstream_up"}
    assert up == {victim.url: 0.0, survivor.url: 1.0}
    ok = {
        dict(k[1])["upstream"]: v
        for k, v in samples.items()
        if k[0] == "edgekit_upstream_requests_total" and dict(k[1])["outcome"] == "ok"
    }
    assert ok.get(survivor.url, 0) >= 24 and ok.get(victim.url, 0) >= 1, ok
    # the survivor alone keeps serving; with both gone the front says so cleanly (503)
    assert ask(url, key, QUESTIONS[0], kb=False)["choices"][0]["message"]["content"] is not None
    survivor.kill()
    r = httpx.post(
        f"{url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"messages": [{"role": "user", "content": "hello"}], "kb": False},
        timeout=60,
    )
    assert r.status_code == 503, r.text
    assert "no upstream engine" in r.json()["error"]["message"]


def test_replicas_share_only_the_read_only_bundle(tiny_project, tmp_path: Path):
    """Two `edgekit serve` replicas over one bundle (as behind any HTTP balancer): each
    answers with the same greedy text and citations, each keeps its own audit chain (a
    replica pointed at another's log refuses to start, naming the fix), and the bundle is
    unchanged after both served."""
    from serving import refused_start

    from conftest import run_cli
    from edgekit.bundle.verify import verify

    _, result = tiny_project
    bundle = result.bundle
    _, key = add_key(bundle, "user", "replicas")
    logs = [tmp_path / f"replica{i}.audit.jsonl" for i in range(2)]
    replicas = [RunningServer(bundle, "--audit-log", str(log)) for log in logs]
    try:
        code, out = refused_start(bundle, "--audit-log", str(logs[0]))
        assert code != 0 and "own log" in out and "--audit-log" in out, out
        answers = [ask(r.url, key, QUESTIONS[0]) for r in replicas]
        assert answers[0]["choices"][0]["message"] == answers[1]["choices"][0]["message"]
        assert answers[0]["citations"] == answers[1]["citations"]
    finally:
        for r in replicas:
            r.stop()
    for log in logs:
        done = run_cli("audit", "verify", str(log))
        assert done.returncode == 0 and "chain intact" in done.stdout, done.stdout + done.stderr
    assert verify(bundle).ok
