"""The serving engine on a real llama.cpp model: continuous batching changes no answer,
cancel frees a slot within one step, prefix reuse is exact, adapters share one model."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

QUESTIONS = [
    "What is the capital of France?",
    "Explain photosynthesis in one sentence.",
    "Name three colours of a rainbow.",
    "What is two plus two?",
    "Write one line about coal mining safety.",
    "Who wrote the play Hamlet?",
    "What does a ventilation officer check?",
    "Describe rain to a child.",
]
SYSTEM = (
    "You are the site assistant of an underground coal mine. Answer in one or two short "
    "sentences, plainly, and say when you do not know. Never invent a regulation number."
)


@pytest.fixture(scope="module")
def smollm2() -> str:
    from edgekit.models import smollm2_gguf

    return str(smollm2_gguf())


@pytest.fixture(scope="module")
def model(smollm2: str):
    from edgekit.runtime.engine import EngineModel

    return EngineModel(smollm2)


def _lane(model, slots: int, n_ctx: int = 512, **kw):
    from edgekit.runtime.engine import Lane, LanePlan

    return Lane(model, LanePlan(slots=slots, threads=2, n_ctx=n_ctx, **kw))


def _answer(handle) -> tuple[str, str, int]:
    text, done, reused = [], None, -1
    for event in handle.events(timeout=120):
        if event[0] == "start":
            reused = event[1]
        elif event[0] == "text":
            text.append(event[1])
        elif event[0] == "done":
            done = event[1]
        else:
            raise AssertionError(event)
    return "".join(text), str(done), reused


def _submit(lane, model, question: str, max_tokens: int = 40, system: str = ""):
    from edgekit.runtime.engine import SamplingSpec

    messages = [{"role": "user", "content": question}]
    if system:
        messages.insert(0, {"role": "system", "content": system})
    prompt = model.chat_prompt(messages)
    spec = SamplingSpec(max_tokens=max_tokens, temperature=0.0, stop=tuple(prompt.stop))
    return lane.submit(prompt.tokens, spec)


def test_eight_concurrent_answers_equal_each_answer_alone(model):
    lane = _lane(model, slots=8)
    try:
        alone = [_answer(_submit(lane, model, q))[:2] for q in QUESTIONS]
        steps_alone = lane.steps
        # all in flight at once: holding the lane's lock, so that its scheduler admits the
        # eight in one step (not a few first, by thread timing: the batches' layout, and with
        # it a near-tied greedy token, would change from run to run)
        with lane._cv:
            handles = [_submit(lane, model, q) for q in QUESTIONS]
        together = [_answer(h)[:2] for h in handles]
        batched_steps = lane.steps - steps_alone
    finally:
        lane.retire()
    assert together == alone
    assert all(text for text, _ in alone)
    # batched for real: far fewer steps than the answers' tokens one by one
    assert batched_steps < sum(len(model.tokenize(t, add_bos=False)) for t, _ in alone) / 2


def test_long_prompts_answer_the_same_batched_cached_or_alone(model):
    """RAG-sized prompts (600-650 tokens: prefill spans several steps and the attention
    kernels' shape-dependent paths) answer alike alone, all at once and from the cache."""
    docs = Path(__file__).resolve().parents[1] / "examples" / "mine-safety" / "docs"
    words = " ".join(p.read_text() for p in sorted(docs.glob("*.md"))).split()
    questions = ["What is the methane limit?", "Who inspects the ventilation?"]
    prompts = [" ".join(words[100 * i : 100 * i + 450 + 40 * i]) for i in range(len(questions))]
    lane = _lane(model, slots=2, n_ctx=1024)
    fresh = _lane(model, slots=2, n_ctx=1024)

    def ask(lane, i: int):
        return _submit(lane, model, questions[i], max_tokens=32, system=prompts[i])

    try:
        alone = [_answer(ask(lane, i))[0] for i in range(2)]
        with fresh._cv:  # admitted in one step
            handles = [ask(fresh, i) for i in range(2)]
        together = [_answer(h)[0] for h in handles]
        cached = [_answer(ask(fresh, i)) for i in range(2)]
    finally:
        lane.retire()
        fresh.retire()
    assert all(reused > 500 for _, _, reused in cached)
    assert together == alone
    assert [text for text, _, _ in cached] == alone


def test_engine_answers_equal_llama_cpp_python(model, smollm2):
    """`edgekit serve` (engine) and `edgekit chat` / the evals (`Llama`) agree."""
    import llama_cpp

    lane = _lane(model, slots=4)
    try:
        handles = [_submit(lane, model, q, system=SYSTEM) for q in QUESTIONS[:4]]
        mine = [_answer(h)[0] for h in handles]
    finally:
        lane.retire()
    from edgekit.bundle.answer_settings import attention

    llm = llama_cpp.Llama(
        model_path=smollm2, n_ctx=512, n_threads=2, verbose=False, **attention().llama_kwargs()
    )
    ref = [
        llm.create_chat_completion(
            messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": q}],
            max_tokens=40,
            temperature=0.0,
        )["choices"][0]["message"]["content"]
        for q in QUESTIONS[:4]
    ]
    assert mine == ref


def test_cancel_frees_the_slot_within_one_step(model):
    lane = _lane(model, slots=1)
    try:
        handle = _submit(lane, model, "Count from one to one thousand in words.", 400)
        events = handle.events(timeout=60)
        assert next(events)[0] == "start" and next(events)[0] == "text"
        at_cancel = lane.steps
        handle.cancel()
        deadline = time.time() + 30
        while lane.busy and time.time() < deadline:
            time.sleep(0.001)
        assert lane.busy == 0
        assert lane.steps - at_cancel <= 1
        assert [e for e in events if e[0] == "done"][0][1] == "cancelled"
        # the freed slot serves the next request
        assert _answer(_submit(lane, model, QUESTIONS[3], 8))[0]
    finally:
        lane.retire()


def test_prefix_reuse_gives_the_cold_answer(model):
    warm = _lane(model, slots=2)
    cold = _lane(model, slots=1)
    try:
        first = _submit(warm, model, QUESTIONS[0], 200, system=SYSTEM)
        events = first.events(timeout=60)
        assert next(events)[0] == "start"
        # while the first answer runs, a second one copies its system-prompt KV
        text, _, reused = _answer(_submit(warm, model, QUESTIONS[6], 40, system=SYSTEM))
        list(events)
        # and a request after it reuses the prefix left in a free slot
        again, _, reused_again = _answer(_submit(warm, model, QUESTIONS[6], 40, system=SYSTEM))
        reference, _, reused_cold = _answer(_submit(cold, model, QUESTIONS[6], 40, system=SYSTEM))
    finally:
        warm.retire()
        cold.retire()
    assert reused_cold == 0
    assert reused > 30 and reused_again > reused  # the system prompt, then the whole prompt
    assert text == reference and again == reference


def test_two_adapters_in_flight_answer_with_their_own_weights(tiny_model, tmp_path: Path):
    import llama_cpp
    from adapter_util import make_adapter

    from edgekit.quant.gguf import convert_to_f16
    from edgekit.quant.lora_gguf import peft_to_gguf
    from edgekit.runtime.engine import EngineModel, Lane, LanePlan
    from edgekit.runtime.engine.completion import LaneCompletion

    base = tmp_path / "base.gguf"
    convert_to_f16(tiny_model.path, base)
    loras = []
    for seed in (1, 2):
        peft_dir = make_adapter(tiny_model.path, tmp_path / f"a{seed}", scale=20.0, seed=seed)
        loras.append(peft_to_gguf(peft_dir, tiny_model.path, tmp_path / f"a{seed}.gguf"))
    model = EngineModel(str(base))
    lanes = [Lane(model, LanePlan(2, 1, 128), adapter=str(p)) for p in loras]
    prompt = "The ventilation officer checks the fans"
    got: dict[int, str] = {}

    def ask(i: int) -> None:
        out = LaneCompletion(lanes[i], 60).create_completion(prompt, max_tokens=24, temperature=0)
        got[i] = out["choices"][0]["text"]

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for lane in lanes:
        lane.retire()
    expected = []
    for lora in loras:
        llm = llama_cpp.Llama(str(base), lora_path=str(lora), n_ctx=128, verbose=False)
        expected.append(
            llm.create_completion(prompt, max_tokens=24, temperature=0)["choices"][0]["text"]
        )
    assert expected[0] != expected[1]  # the adapters differ
    assert [got[0], got[1]] == expected


def test_a_bad_request_fails_alone_and_the_lane_keeps_serving(model):
    from edgekit.runtime.engine import SamplingSpec

    lane = _lane(model, slots=2)
    try:
        running = _submit(lane, model, QUESTIONS[1], 30)
        bad = lane.submit(model.tokenize("Hi"), SamplingSpec(grammar="root ::= ("))
        events = list(bad.events(timeout=60))
        assert events[-1][0] == "error" and events[-1][2] == 400, events
        assert "grammar" in events[-1][1]
        assert _answer(running)[1] in ("stop", "length")
        assert _answer(_submit(lane, model, QUESTIONS[3], 8))[0]
        with pytest.raises(ValueError, match="a slot holds"):
            lane.submit(list(range(600)), SamplingSpec())
    finally:
        lane.retire()


def test_attention_is_the_models_setting(model, smollm2):
    """Every context of a model computes attention one way: exact by default, llama.cpp's
    tiled kernels with `serve --fast-attention`."""
    from edgekit.bundle.answer_settings import EXACT_ATTENTION, FAST_ATTENTION
    from edgekit.runtime.engine import EngineModel

    def types(m):
        p = m.context_params(512, 2, 1, 512)
        return p.flash_attn_type, p.type_k, p.type_v

    assert types(model) == (1, EXACT_ATTENTION.type_k, EXACT_ATTENTION.type_v)
    fast = EngineModel(smollm2, numerics=FAST_ATTENTION)
    assert types(fast) == (1, FAST_ATTENTION.type_k, FAST_ATTENTION.type_v)
    assert EXACT_ATTENTION.type_k != EXACT_ATTENTION.type_v  # what keeps the per-row path
    lane = _lane(fast, slots=2)
    try:
        text, done, _ = _answer(_submit(lane, fast, "Name the capital of France.", max_tokens=8))
    finally:
        lane.retire()
    assert text.strip() and done in ("stop", "length")
