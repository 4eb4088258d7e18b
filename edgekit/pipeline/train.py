"""The training part of `edgekit build`: build data -> train -> measure forgetting
(plus one adapter per expert group), each stage skipped when its inputs did not change."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekit.config import LoadedConfig
from edgekit.config.layout import FORGETTING_FILE, TRAIN_FILE, TrainingLayout, WorkLayout
from edgekit.fsutil import atomic_write_json, sha256_json, sha256_tree
from edgekit.models import PreparedModel
from edgekit.quant.lora_gguf import peft_to_gguf

FORGETTING = FORGETTING_FILE  # its name under the bundle's report/
EXPERT_GGUF = "adapter.gguf"  # llama.cpp's form of an expert adapter, beside the PEFT files


@dataclass
class TrainOutputs:
    data_dir: Path
    train_dir: Path
    adapter: Path | None = None  # LoRA: merged by the build
    full_model: Path | None = None  # full fine-tuning: quantized directly
    key: str = ""
    experts: dict[str, Path] = field(default_factory=dict)
    expert_patterns: dict[str, list[str]] = field(default_factory=dict)
    gate: Any = None  # edgekit.qa.gate.GateResult once the tuning gate ran

    def report_files(self) -> dict[str, Path]:
        """Files the bundle ships under report/."""
        files = {
            "data-card.json": self.data_dir / "card.json",
            "data-card.png": self.data_dir / "card.png",
            "train-log.jsonl": self.train_dir / "train-log.jsonl",
            "loss.png": self.train_dir / "loss.png",
            FORGETTING: self.train_dir.parent / FORGETTING,
        }
        return {k: v for k, v in files.items() if v.is_file()}


def _train_one(
    loaded: LoadedConfig,
    runner: Any,
    base: PreparedModel,
    layout: TrainingLayout,
    label: str,
    patterns: list[str] | None,
) -> tuple[Path, Path, Path, str]:
    from edgekit.data.build import build_data
    from edgekit.pipeline.inputs import qa_questions
    from edgekit.train.trainer import train

    cfg = loaded.config
    data_dir, train_dir = layout.data, layout.train
    held_out = qa_questions(loaded)
    data_key = sha256_json(
        {
            "docs": sha256_tree(cfg.docs),
            "data": cfg.data.model_dump(),
            "system": cfg.prompt.system,
            "base": base.sha256,
            "patterns": patterns,
            "qa_held_out": sorted(held_out),
            # grounded examples are written in the runtime's prompt format and length
            "prompt": [cfg.prompt.prompt_style, cfg.prompt.excerpt_order],
            "max_seq_len": cfg.train.max_seq_len,
        }
    )

    def do_data() -> str:
        card = build_data(loaded, data_dir, patterns=patterns, exclude_questions=held_out).as_dict()
        return (
            f"{card['train_domain']} domain + {card['train_replay']} replay train, "
            f"{card['eval_domain']} + {card['eval_general']} held out"
        )

    runner.stage(f"build data{label}", data_key, [data_dir / TRAIN_FILE], do_data)
    key = sha256_json({"data": data_key, "train": cfg.train.model_dump()})
    out = layout.output(cfg.train.method)

    def do_train() -> str:
        r = train(loaded, data_dir, train_dir, base)
        return f"{r.steps} steps, final loss {r.final_loss:.3f}, {r.tokens_per_s:.0f} tokens/s"

    runner.stage(
        f"train{label}",
        key,
        [out / "adapter_config.json" if cfg.train.method == "lora" else out / "config.json"],
        do_train,
        spinner=False,
    )
    return data_dir, train_dir, out, key


def training_stages(
    loaded: LoadedConfig, runner: Any, base: PreparedModel, work: Path
) -> TrainOutputs:
    cfg = loaded.config
    layout = WorkLayout(work)
    main = layout.main_training
    data_dir, train_dir, out, key = _train_one(loaded, runner, base, main, "", None)
    result = TrainOutputs(data_dir, train_dir, key=key)
    if cfg.train.method == "lora":
        result.adapter = out
    else:
        result.full_model = out
    report = main.forgetting

    def do_forgetting() -> str:
        from edgekit.train.forgetting import evaluate_forgetting

        table = evaluate_forgetting(base, out, data_dir, cfg.train.max_seq_len)
        atomic_write_json(report, table)
        parts = [f"{s} PPL x{table[s]['ratio']:.2f}" for s in ("domain", "general") if s in table]
        return ", ".join(parts)

    runner.stage("eval forgetting", key, [report], do_forgetting)
    for name, patterns in cfg.train.experts.items():
        _, _, e_out, _ = _train_one(
            loaded, runner, base, layout.expert_training(name), f" [{name}]", patterns
        )
        result.experts[name] = e_out
        result.expert_patterns[name] = list(patterns)
        lora = e_out / EXPERT_GGUF
        if cfg.train.method == "lora":
            runner.stage(
                f"gguf lora [{name}]",
                sha256_json(
                    {
                        "adapter": sha256_tree(
                            e_out, ["adapter_model.safetensors", "adapter_config.json"]
                        ),
                        "base": base.sha256,
                    }
                ),
                [lora],
                lambda o=e_out, f=lora: peft_to_gguf(o, base.path, f) and None,
            )
    return result


def read_forgetting(outputs: TrainOutputs) -> dict[str, Any] | None:
    path = outputs.report_files().get(FORGETTING)
    return json.loads(path.read_text()) if path else None
