"""The tuning gate compares base and tuned in the answer style that ships (issue 22): the
style is chosen first, with the tuned model, then both are measured in it. Real llama.cpp
on the tiny-random model, a real GGUF LoRA and the tiny bundle's own KB and QA set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from adapter_util import make_adapter

from edgekit.config import load_config


def quality(metrics: dict[str, Any]) -> dict[str, Any]:
    """The metrics without their timings."""
    return {k: v for k, v in metrics.items() if not k.startswith("seconds")}


@pytest.fixture(scope="module")
def gate_inputs(tiny_project, tiny_model, tmp_path_factory: pytest.TempPathFactory):
    from edgekit.bundle import manifest as mf
    from edgekit.pipeline.inputs import answer_settings, qa_set_path
    from edgekit.qa.evalset import load_qa_jsonl
    from edgekit.quant.gguf import F16, convert_to_f16, gguf_name, quantize
    from edgekit.quant.lora_gguf import peft_to_gguf

    config, result = tiny_project
    loaded = load_config(config)
    out: Path = tmp_path_factory.mktemp("gate")
    f16 = convert_to_f16(tiny_model.path, out / gguf_name(F16), log=out / "convert.log")
    gguf = quantize(f16, out / gguf_name("Q8_0"), "Q8_0")
    adapter = make_adapter(tiny_model.path, out / "adapter", scale=0.5)
    lora = peft_to_gguf(adapter, tiny_model.path, out / "adapter.gguf")
    dev = [i for i in load_qa_jsonl(qa_set_path(loaded)) if i.split == "dev"][:6]
    settings = answer_settings(loaded).with_values(prompt_style="cite", max_tokens=24)
    return gguf, lora, result.bundle / mf.KB_DIR, dev, settings


def test_gate_measures_base_and_tuned_in_the_style_it_chose(gate_inputs):
    from edgekit.qa.gate import compare, measure

    gguf, lora, kb_dir, dev, cite = gate_inputs
    base_m, tuned_m, chosen, why = compare(gguf, lora, kb_dir, [], cite, dev, pinned=[])
    # a model under 1B parameters starts from extract and the random model cannot beat it
    assert chosen.prompt_style == "extract", why
    assert "extract" in why
    # both were measured in the chosen style, not in the config's cite
    assert quality(base_m) == quality(measure(gguf, None, kb_dir, [], chosen, dev))
    assert quality(tuned_m) == quality(measure(gguf, lora, kb_dir, [], chosen, dev))
    assert quality(base_m) != quality(measure(gguf, None, kb_dir, [], cite, dev))


def test_a_style_set_in_the_config_is_the_one_compared_in(gate_inputs):
    from edgekit.qa.gate import compare, measure

    gguf, lora, kb_dir, dev, cite = gate_inputs
    base_m, _, chosen, why = compare(gguf, lora, kb_dir, [], cite, dev, pinned=["prompt_style"])
    assert chosen.prompt_style == "cite" and "set in the config" in why
    assert quality(base_m) == quality(measure(gguf, None, kb_dir, [], cite, dev))
