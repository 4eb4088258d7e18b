"""`edgekit serve` for real: HTTP on 127.0.0.1, the official openai client, a real bundle."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from serving import RunningServer

from conftest import REPO, run_cli
from edgekit.config import load_config
from edgekit.init import init_project
from edgekit.pipeline import build
from edgekit.runtime.serve.auth import add_key


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, tiny_model):
    folder = tmp_path_factory.mktemp("serve") / "site"
    config = init_project(folder, base="builtin:tiny-random")
    shutil.copytree(REPO / "examples" / "mine-safety" / "tools", folder / "tools")
    shutil.copyfile(REPO / "examples" / "mine-safety" / "rules.yaml", folder / "rules.yaml")
    import yaml

    data = yaml.safe_load(config.read_text())
    data["prompt"]["rules"] = "rules.yaml"
    data["tools"] = "tools"
    # a tiny LoRA expert for the FAQ document, so adapters and routing are served too
    data["train"] = {
        "enabled": True,
        "max_steps": 2,
        "precision": "fp32",
        "experts": {"faq": ["faq.md"]},
    }
    data["data"] = {"general": "none"}
    # the two FAQ pairs of the tiny docs would all be QA eval questions, leaving the expert
    # no training pair; the QA eval has its own tests
    data["eval"]["qa"]["enabled"] = False
    config.write_text(yaml.safe_dump(data))
    bundle = build(load_config(config), console=Console(quiet=True)).bundle
    _, user = add_key(bundle, "user", "tests")
    _, admin = add_key(bundle, "admin", "ops")
    server = RunningServer(bundle, "--slots", "1", "--max-queue", "0", "--max-prompt-tokens", "400")
    yield {"bundle": bundle, "url": server.url, "user": user, "admin": admin, "server": server}
    server.stop()


def client(s, key: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{s['url']}/v1", api_key=key or s["user"], max_retries=0)


def test_health_ready_and_models(served):
    assert httpx.get(f"{served['url']}/health").json() == {"status": "ok"}
    ready = httpx.get(f"{served['url']}/ready").json()
    assert ready["ready"] and ready["slots"] == 1 and ready["kb"] is True
    models = client(served).models.list()
    assert [m.id for m in models.data] == ["site-0.1.0", "site-0.1.0:faq"]
    spec = httpx.get(f"{served['url']}/openapi.json").json()
    assert "/v1/chat/completions" in spec["paths"]


def test_chat_returns_text_usage_and_citations(served):
    r = client(served).chat.completions.create(
        model="site-0.1.0",
        max_tokens=8,
        temperature=0,
        messages=[{"role": "user", "content": "What do I do when I hear a continuous siren?"}],
    )
    assert r.choices[0].message.content and r.usage.completion_tokens > 0
    cites = r.model_extra["citations"]
    assert cites[0]["source"] == "docs/faq.md" and cites[0]["heading"].endswith("siren?")
    no_kb = client(served).chat.completions.create(
        model="site-0.1.0",
        max_tokens=4,
        messages=[{"role": "user", "content": "hi"}],
        extra_body={"kb": False},
    )
    assert no_kb.model_extra["citations"] == []


def test_stream_yields_chunks_and_final_citations(served):
    stream = client(served).chat.completions.create(
        model="site-0.1.0",
        max_tokens=10,
        stream=True,
        messages=[{"role": "user", "content": "Which extension do I call in an emergency?"}],
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text and chunks[-1].choices[0].finish_reason in ("stop", "length")
    assert chunks[-1].model_extra["citations"][0]["source"].startswith("docs/")


def test_embeddings(served):
    r = client(served).embeddings.create(model="x", input=["gas detector", "refuge chamber"])
    assert len(r.data) == 2 and len(r.data[0].embedding) == 384
    norm = sum(x * x for x in r.data[0].embedding)
    assert abs(norm - 1.0) < 1e-3


def test_tools_round_trip(served):
    c = client(served)
    tools = httpx.get(
        f"{served['url']}/v1/tools", headers={"Authorization": f"Bearer {served['user']}"}
    ).json()["data"]
    assert tools[0]["function"]["name"] == "convert_units"
    messages = [{"role": "user", "content": "Convert 1.25 percent methane to ppm."}]
    r = c.chat.completions.create(
        model="site-0.1.0",
        messages=messages,
        tools=tools,
        tool_choice={"type": "function", "function": {"name": "convert_units"}},
        max_tokens=200,  # the schema's grammar bounds the call well under this
    )
    assert r.choices[0].finish_reason == "tool_calls"
    call = r.choices[0].message.tool_calls[0]
    args = json.loads(call.function.arguments)
    assert set(args) == {"value", "unit_from", "unit_to"}  # grammar-constrained by the schema
    assert args["unit_from"] in ("ppm", "percent", "m3/s", "cfm")  # the schema's enum
    exact = httpx.post(
        f"{served['url']}/v1/tools/convert_units",
        json={"value": 1.25, "unit_from": "percent", "unit_to": "ppm"},
        headers={"Authorization": f"Bearer {served['user']}"},
    ).json()
    assert exact["result"] == {"value": 12500.0, "unit": "ppm"}
    messages += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {
                        "name": "convert_units",
                        "arguments": json.dumps(
                            {"value": 1.25, "unit_from": "percent", "unit_to": "ppm"}
                        ),
                    },
                }
            ],
        },
        {"role": "tool", "tool_call_id": call.id, "content": json.dumps(exact)},
    ]
    final = c.chat.completions.create(model="site-0.1.0", messages=messages, max_tokens=5)
    assert final.choices[0].message.content is not None


def test_tool_call_cut_by_max_tokens_says_length(served):
    c = client(served)
    tools = httpx.get(
        f"{served['url']}/v1/tools", headers={"Authorization": f"Bearer {served['user']}"}
    ).json()["data"]
    r = c.chat.completions.create(
        model="site-0.1.0",
        messages=[{"role": "user", "content": "Convert 2 percent methane to ppm."}],
        tools=tools,
        tool_choice={"type": "function", "function": {"name": "convert_units"}},
        max_tokens=4,  # too few for any complete call: the arguments are cut off
    )
    assert r.choices[0].finish_reason == "length"


def test_auth_401_and_403(served):
    with pytest.raises(openai.AuthenticationError):
        client(served, "ek_bad_key").chat.completions.create(
            model="", messages=[{"role": "user", "content": "hi"}]
        )
    assert httpx.get(f"{served['url']}/v1/models").status_code == 401
    user = {"Authorization": f"Bearer {served['user']}"}
    admin = {"Authorization": f"Bearer {served['admin']}"}
    assert httpx.get(f"{served['url']}/admin/keys", headers=user).status_code == 403
    keys = httpx.get(f"{served['url']}/admin/keys", headers=admin).json()["keys"]
    assert {k["role"] for k in keys} == {"user", "admin"}
    assert "sha256" not in json.dumps(keys)
    assert httpx.get(f"{served['url']}/metrics", headers=user).status_code == 200


def test_bad_json_and_wrong_types_name_the_field(served):
    h = {"Authorization": f"Bearer {served['user']}", "Content-Type": "application/json"}
    bad = httpx.post(f"{served['url']}/v1/chat/completions", content=b"{not json", headers=h)
    assert bad.status_code == 422
    wrong = httpx.post(
        f"{served['url']}/v1/chat/completions",
        headers=h,
        json={"messages": [{"role": "robot", "content": "x"}], "max_tokens": "many"},
    )
    assert wrong.status_code == 422
    msg = wrong.json()["error"]["message"]
    assert "messages.0.role" in msg and "max_tokens" in msg
    assert httpx.get(f"{served['url']}/health").status_code == 200  # still up


def test_overlong_prompt_is_a_clear_400(served):
    with pytest.raises(openai.BadRequestError) as info:
        client(served).chat.completions.create(
            model="",
            messages=[{"role": "user", "content": "ventilation " * 600}],
            extra_body={"kb": False},
        )
    assert "max_prompt_tokens" in str(info.value) and "400" in str(info.value)
    with pytest.raises(openai.BadRequestError, match="max_output_tokens"):
        client(served).chat.completions.create(
            model="", max_tokens=100000, messages=[{"role": "user", "content": "hi"}]
        )


def test_queue_full_is_503_and_disconnect_frees_the_instance(served):
    h = {"Authorization": f"Bearer {served['user']}"}
    body = {
        "messages": [{"role": "user", "content": "Tell me everything."}],
        "stream": True,
        "max_tokens": 1000,
        "kb": False,
        "temperature": 0.0,  # greedy: random weights at T=1 emit partial UTF-8 that
        # llama-cpp-python holds back for many tokens
    }
    got_first = threading.Event()

    def hold() -> None:
        with httpx.stream(
            "POST", f"{served['url']}/v1/chat/completions", json=body, headers=h, timeout=60
        ) as r:
            for _ in r.iter_lines():
                got_first.set()
                time.sleep(0.5)  # a slow reader holds the instance
                break  # then disconnect

    t = threading.Thread(target=hold)
    t.start()
    assert got_first.wait(30)
    busy = httpx.post(
        f"{served['url']}/v1/chat/completions",
        headers=h,
        timeout=30,
        json={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2, "kb": False},
    )
    assert busy.status_code == 503 and busy.headers["retry-after"] == "2"
    t.join()
    deadline = time.time() + 20  # the disconnected stream stops and gives the instance back
    while time.time() < deadline:
        ok = httpx.post(
            f"{served['url']}/v1/chat/completions",
            headers=h,
            timeout=30,
            json={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2, "kb": False},
        )
        if ok.status_code == 200:
            break
        time.sleep(0.3)
    assert ok.status_code == 200
    lines = Path(str(served["bundle"]) + ".audit.jsonl").read_text().splitlines()
    stopped = [json.loads(x) for x in lines if json.loads(x)["finish_reason"] == "disconnected"]
    assert stopped and stopped[0]["completion_tokens"] < 1000  # generation stopped early


def test_concurrent_streams_each_equal_the_answer_alone(served, tmp_path: Path):
    """8 streamed requests in flight at once on an 8-slot server get exactly the answers
    each gets alone (seeded sampling, so the random-weight model says different things):
    continuous batching changes nothing."""
    server = RunningServer(  # its own audit log: the module's server keeps one chain
        served["bundle"], "--slots", "8", "--no-auth", "--audit-log", str(tmp_path / "a.jsonl")
    )
    questions = [f"Question {i}: what does the {w} do?" for i, w in enumerate(WORDS)]
    c = openai.OpenAI(base_url=f"{server.url}/v1", api_key="x", max_retries=0)

    def ask(q: str) -> str:
        stream = c.chat.completions.create(
            model="site-0.1.0",
            messages=[{"role": "user", "content": q}],
            max_tokens=24,
            temperature=1.0,
            seed=len(q),
            stream=True,
            # the model's own text: with the KB the support check replaces tiny-random's
            extra_body={"kb": False},
        )
        return "".join(ch.choices[0].delta.content or "" for ch in stream if ch.choices)

    try:
        alone = [ask(q) for q in questions]
        together: dict[int, str] = {}
        threads = [
            threading.Thread(target=lambda i=i: together.__setitem__(i, ask(questions[i])))
            for i in range(len(questions))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        metrics = httpx.get(f"{server.url}/metrics").text
    finally:
        server.stop()
    assert [together.get(i) for i in range(len(questions))] == alone
    assert len(set(alone)) > 1  # the questions got different answers
    steps = {
        s.labels["le"]: s.value
        for f in text_string_to_metric_families(metrics)
        if f.name == "edgekit_batch_sequences"
        for s in f.samples
        if s.name.endswith("_bucket")
    }
    assert steps["+Inf"] > steps["1.0"]  # some steps decoded several sequences at once


WORDS = [
    "fan",
    "pump",
    "shot firer",
    "deputy",
    "refuge chamber",
    "self-rescuer",
    "gas monitor",
    "conveyor",
]


def test_rules_add_instructions_or_reply_fixed(served):
    r = client(served).chat.completions.create(
        model="", max_tokens=4, messages=[{"role": "user", "content": "There is a fire, help now!"}]
    )
    assert r.choices[0].message.content.startswith("If this is an emergency")
    client(served).chat.completions.create(
        model="", max_tokens=2, messages=[{"role": "user", "content": "I am angry about dust"}]
    )
    lines = Path(str(served["bundle"]) + ".audit.jsonl").read_text().splitlines()
    fired = [json.loads(x)["rules"] for x in lines]
    assert ["emergency"] in fired and ["de-escalate"] in fired


def test_metrics_parse_as_prometheus(served):
    text = httpx.get(
        f"{served['url']}/metrics", headers={"Authorization": f"Bearer {served['user']}"}
    ).text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for name in (
        "edgekit_requests",
        "edgekit_completion_tokens",
        "edgekit_queue_depth",
        "edgekit_time_to_first_token_seconds",
        "edgekit_retrieval_seconds",
        "edgekit_time_per_output_token_seconds",
    ):
        assert name in families, name
    ttft = [
        s
        for s in families["edgekit_time_to_first_token_seconds"].samples
        if s.name.endswith("_count")
    ]
    assert ttft[0].value > 0


def test_audit_chain_verifies_and_detects_tampering(served, tmp_path: Path):
    log = Path(str(served["bundle"]) + ".audit.jsonl")
    ok = run_cli("audit", "verify", str(log), check=True)
    assert "chain intact" in ok.stdout
    lines = log.read_text().splitlines()
    assert len(lines) >= 3
    row = json.loads(lines[1])
    assert len(row["prompt_sha256"]) == 64 and row["key_id"]
    edited = tmp_path / "edited.jsonl"
    row["completion_tokens"] += 1
    edited.write_text("\n".join([lines[0], json.dumps(row, sort_keys=True), *lines[2:]]) + "\n")
    bad = run_cli("audit", "verify", str(edited))
    assert bad.returncode == 1 and "line 2: content does not match" in bad.stdout
    deleted = tmp_path / "deleted.jsonl"
    deleted.write_text("\n".join([lines[0], *lines[2:]]) + "\n")
    gone = run_cli("audit", "verify", str(deleted))
    assert gone.returncode == 1 and "line 2: previous-hash link broken" in gone.stdout


def test_bundle_still_verifies_after_serving(served):
    from edgekit.bundle.verify import verify

    report = verify(served["bundle"])  # no __pycache__ from the shipped tools, no KB writes
    assert report.ok, report.problems


def test_adapters_by_name_and_routed_by_the_best_hit(served):
    c = client(served)
    named = c.chat.completions.create(
        model="site-0.1.0:faq", max_tokens=3, messages=[{"role": "user", "content": "dust"}]
    )
    assert named.model == "site-0.1.0:faq"
    routed = c.chat.completions.create(
        model="site-0.1.0",
        max_tokens=3,
        messages=[{"role": "user", "content": "Which extension do I call in an emergency?"}],
    )
    assert routed.model_extra["citations"][0]["source"] == "docs/faq.md"
    assert routed.model == "site-0.1.0:faq"  # the FAQ expert serves FAQ questions
    base = c.chat.completions.create(
        model="site-0.1.0:base",
        max_tokens=3,
        messages=[{"role": "user", "content": "Which extension do I call in an emergency?"}],
    )
    assert base.model == "site-0.1.0"
    with pytest.raises(openai.NotFoundError, match="not in this bundle"):
        c.chat.completions.create(
            model="site-0.1.0:nope", max_tokens=2, messages=[{"role": "user", "content": "hi"}]
        )
    lines = Path(str(served["bundle"]) + ".audit.jsonl").read_text().splitlines()
    assert "faq" in {json.loads(x)["adapter"] for x in lines}


def test_chat_and_serve_send_the_same_prompt_and_give_the_same_greedy_answer(served):
    """One answer path: the prompt `serve` logs (its sha256 in the audit log) is the one
    `chat` builds, and greedy answers match word for word."""
    from edgekit.runtime.answer.knowledge import open_kb
    from edgekit.runtime.answer.session import ChatSession, load_model
    from edgekit.runtime.site.audit import text_hash
    from edgekit.runtime.site.verified import open_bundle

    bundle, q = served["bundle"], "Where do I sign in at the start of a shift?"
    r = client(served).chat.completions.create(
        model=f"{bundle.name}:base",  # the main model (see the test below for experts)
        messages=[{"role": "user", "content": q}],
        temperature=0,
        max_tokens=24,
    )
    served_text = r.choices[0].message.content or ""
    assert served_text and r.model_extra["citations"]
    log = Path(str(bundle) + ".audit.jsonl").read_text().splitlines()
    logged = json.loads(log[-1])["prompt_sha256"]
    site = open_bundle(bundle)
    session = ChatSession(site, load_model(site), max_tokens=24, temperature=0, kb=open_kb(site))
    plan = session.plan(q)
    assert plan.hits and "Question: " + q in plan.messages[-1]["content"]
    assert text_hash(json.dumps(plan.messages, sort_keys=True)) == logged
    out = run_cli("chat", str(bundle), q, "--temperature", "0", "--max-tokens", "24", check=True)
    assert out.stdout.split("\nSources:")[0].strip() == served_text.strip()
    # the model's own greedy text, word for word (with excerpts, tiny-random's text is not
    # held by them and both show the same replacement: edgekit.runtime.answer.support)
    r = client(served).chat.completions.create(
        model=f"{bundle.name}:base",
        messages=[{"role": "user", "content": q}],
        temperature=0,
        max_tokens=24,
        extra_body={"kb": False},
    )
    out = run_cli(
        "chat", str(bundle), q, "--temperature", "0", "--max-tokens", "24", "--no-kb", check=True
    )
    own = r.choices[0].message.content or ""
    assert out.stdout.strip() == own.strip()  # tiny-random may say only whitespace


def test_chat_and_serve_answer_alike_plain_expert_and_over_long(served, tmp_path: Path):
    """One request plan for both (edgekit.runtime.answer.request): with serve's default limits,
    `edgekit chat` and `edgekit serve` give the same greedy text for a plain question, a
    question routed to the FAQ expert by its best excerpt, the expert named, and a prompt
    that leaves less than max_tokens of the window (both shorten max_tokens alike); a
    prompt over the limit is refused by both with the same message."""
    from edgekit.runtime.answer.request import Refused
    from edgekit.runtime.answer.session import ChatSession, load_model
    from edgekit.runtime.site.verified import open_bundle

    bundle = served["bundle"]
    server = RunningServer(
        bundle, "--no-auth", "--slots", "1", "--audit-log", str(tmp_path / "audit.jsonl")
    )
    c = openai.OpenAI(base_url=f"{server.url}/v1", api_key="none", max_retries=0)

    def serve(q: str, adapter: str = "", kb: bool = True, max_tokens: int = 24):
        r = c.chat.completions.create(
            model=bundle.name + (f":{adapter}" if adapter else ""),
            messages=[{"role": "user", "content": q}],
            temperature=0,
            max_tokens=max_tokens,
            extra_body={"kb": kb},
        )
        return r.model, (r.choices[0].message.content or "").strip(), r.usage.completion_tokens

    def chat(q: str, *args: str, max_tokens: int = 24, check: bool = True):
        out = run_cli(
            "chat",
            str(bundle),
            q,
            "--temperature",
            "0",
            "--max-tokens",
            str(max_tokens),
            *args,
            check=check,
        )
        return out.stdout.split("\nSources:")[0].strip(), out.stderr

    try:
        plain = "Where do I sign in at the start of a shift?"
        model, text, _ = serve(plain)
        assert model == bundle.name and chat(plain) == (text, "")
        routed = "Which extension do I call in an emergency?"
        model, text, _ = serve(routed)
        shown, err = chat(routed)
        assert model == f"{bundle.name}:faq" and shown == text and "expert adapter faq" in err
        # the expert's own greedy text (no excerpts: nothing replaces it)
        _, expert_text, _ = serve(routed, "faq", kb=False)
        assert chat(routed, "--adapter", "faq", "--no-kb")[0] == expert_text
        # a prompt that leaves the answer less than max_tokens of the 2048-token window
        site = open_bundle(bundle)
        session = ChatSession(site, load_model(site), max_tokens=400, temperature=0)
        # the expert's model is the bundle's GGUF with the expert's LoRA (2 training steps
        # leave tiny-random's greedy text as it was, so the text alone cannot show it)
        (faq,) = site.meta.experts
        assert session.model("faq").lora_path == str(site.root / str(faq.gguf))
        assert session.model(None).lora_path is None
        window = session.settings.n_ctx
        long_q = "Where do I sign in? " + "shift " * 1900
        while True:  # the longest prompt under the limit
            try:
                planned = session.request(long_q)
                break
            except Refused:
                long_q = long_q[: -len("shift ")]
        assert planned.prompt_tokens + 400 > window and planned.plan.max_tokens < 400
        _, text, n_out = serve(long_q, "base", kb=False, max_tokens=400)
        assert chat(long_q, "--no-kb", max_tokens=400)[0] == text
        assert n_out <= planned.plan.max_tokens
        too_long = long_q + "shift " * 40
        with pytest.raises(openai.BadRequestError) as refused:
            serve(too_long, "base", kb=False)
        message = refused.value.body["message"]
        assert message.startswith("prompt is ") and "max_prompt_tokens" in message
        _, err = chat(too_long, "--no-kb", check=False)
        assert message in " ".join(err.split())
    finally:
        server.stop()


def test_invalid_requests_are_4xx_under_python_O(served, tmp_path: Path):
    """Under `python -O` (asserts stripped) the requests the handlers used to check with
    `assert` are still refused with a 4xx and a JSON error that says why, never a 500."""
    server = RunningServer(
        served["bundle"],
        "--no-auth",
        "--slots",
        "1",
        "--audit-log",
        str(tmp_path / "a.jsonl"),
        python_flags=("-O",),
    )
    assert server.proc.args[1] == "-O"
    not_utf8 = b"\xff\xfe\xfd"
    cases = [
        # the admin switch wants {"version": ...}: a JSON list, string, null, number
        ("/admin/adapters/activate", b"[]"),
        ("/admin/adapters/activate", b'"v1"'),
        ("/admin/adapters/activate", b"null"),
        ("/admin/adapters/activate", b"7"),
        ("/admin/adapters/activate", b'{"version": 5}'),
        ("/admin/adapters/activate", b'{"version": ["v1"]}'),
        ("/admin/adapters/activate", b"{not json"),
        ("/admin/adapters/activate", not_utf8),
        # a tool wants its arguments as an object
        ("/v1/tools/convert_units", b'[1.25, "percent", "ppm"]'),
        ("/v1/tools/convert_units", b'"1.25 percent"'),
        ("/v1/tools/convert_units", b"null"),
        ("/v1/tools/convert_units", b"{not json"),
        ("/v1/tools/convert_units", not_utf8),
        ("/v1/tools/convert_units", b'{"value": 1.25}'),
        # chat: the request model and the handler's own checks
        ("/v1/chat/completions", b"[]"),
        ("/v1/chat/completions", b'{"messages": []}'),
        ("/v1/chat/completions", b'{"messages": [{"role": "user"}], "max_tokens": 0}'),
        ("/v1/chat/completions", not_utf8),
        ("/v1/chat/completions", b'{"messages": [{"role": "user", "content": "hi"}], "kb": 3}'),
        (
            "/v1/chat/completions",
            b'{"model": "other", "messages": [{"role": "user", "content": "hi"}]}',
        ),
    ]
    try:
        got = {}
        for path, body in cases:
            r = httpx.post(
                f"{server.url}{path}",
                content=body,
                headers={"Content-Type": "application/json"},
                timeout=60,
            )
            got[(path, body)] = (r.status_code, r.text)
        health = httpx.get(f"{server.url}/health").status_code
    finally:
        server.stop()
    not_4xx = {k: v for k, v in got.items() if not 400 <= v[0] < 500}
    assert not not_4xx, not_4xx
    for (path, body), (_, text) in got.items():
        answer = json.loads(text)  # FastAPI's own body-parsing 400 says {"detail": ...}
        assert answer.get("error", {}).get("message") or answer.get("detail"), (path, body, text)
    assert health == 200


def test_metrics_count_exactly_the_traffic_sent(served, tmp_path: Path):
    """A fresh server gets a known mix: 3 chat completions, 1 streamed, 2 refused (422, 400)
    and 1 unauthorized; /metrics counts exactly those, and its token counters equal the
    `usage` the answers reported."""
    server = RunningServer(
        served["bundle"], "--slots", "1", "--audit-log", str(tmp_path / "a.jsonl")
    )
    chat = "/v1/chat/completions"
    usages: list[dict[str, int]] = []
    scrapes = 0
    try:
        with httpx.Client(
            base_url=server.url,
            headers={"Authorization": f"Bearer {served['user']}"},
            timeout=60,
        ) as http:
            for q in ("hi", "Where do I sign in at the start of a shift?", "What is a fan?"):
                r = http.post(
                    chat,
                    json={"messages": [{"role": "user", "content": q}], "max_tokens": 8},
                )
                assert r.status_code == 200, r.text
                usages.append(r.json()["usage"])
            body = {
                "messages": [{"role": "user", "content": "Which extension do I call?"}],
                "max_tokens": 8,
                "stream": True,
                "stream_options": {"include_usage": True},
            }
            with http.stream("POST", chat, json=body) as r:
                assert r.status_code == 200
                events = [x[6:] for x in r.iter_lines() if x.startswith("data: ")]
            assert events[-1] == "[DONE]"
            usages.append(json.loads(events[-2])["usage"])
            wrong = http.post(chat, json={"messages": [{"role": "robot", "content": "x"}]})
            assert wrong.status_code == 422
            too_many = http.post(
                chat, json={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 10**6}
            )
            assert too_many.status_code == 400
            unauthorized = http.post(
                chat,
                json={"messages": [{"role": "user", "content": "hi"}]},
                headers={"Authorization": "Bearer ek_not_a_key"},
            )
            assert unauthorized.status_code == 401
            expected = {
                (chat, "200"): 4,
                (chat, "422"): 1,
                (chat, "400"): 1,
                (chat, "401"): 1,
            }
            # a request is counted when its response has gone out: poll until the last
            # one shows (or a few seconds pass), then compare exactly
            deadline = time.time() + 10
            while True:
                text = http.get("/metrics").text
                requests, tokens = _counters(text)
                if scrapes:
                    expected[("/metrics", "200")] = scrapes
                scrapes += 1
                if requests == expected or time.time() > deadline:
                    break
                time.sleep(0.2)
    finally:
        server.stop()
    assert requests == expected
    assert tokens["prompt"] == sum(u["prompt_tokens"] for u in usages)
    assert tokens["completion"] == sum(u["completion_tokens"] for u in usages)
    assert tokens["completion"] > 0 and all(
        u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"] for u in usages
    )


def _counters(text: str) -> tuple[dict[tuple[str, str], float], dict[str, float]]:
    """(requests by (endpoint, status) without /ready, {"prompt", "completion"} tokens)."""
    requests: dict[tuple[str, str], float] = {}
    tokens: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "edgekit_requests_total" and s.labels["endpoint"] != "/ready":
                requests[(s.labels["endpoint"], s.labels["status"])] = s.value
            elif s.name == "edgekit_prompt_tokens_total":
                tokens["prompt"] = s.value
            elif s.name == "edgekit_completion_tokens_total":
                tokens["completion"] = s.value
    return requests, tokens
