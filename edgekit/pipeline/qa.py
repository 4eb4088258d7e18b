"""`edgekit build`'s QA stages: the QA set (before training, so training never sees its
questions) and the QA eval of the finished bundle (choose settings on dev, report test)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgekit.bundle import manifest as mf
from edgekit.config import LoadedConfig
from edgekit.config.layout import WorkLayout
from edgekit.fsutil import atomic_write_json, sha256_file, sha256_json, sha256_tree
from edgekit.pipeline.inputs import (
    answer_settings,
    pinned_settings,
    qa_enabled,
    qa_set_path,
    user_set,
)
from edgekit.qa.evalset import build_qa_set, load_qa_jsonl, read_qa_file, write_qa_jsonl
from edgekit.qa.evaluate import evaluate_bundle, headline, save_qa
from edgekit.qa.gate import GATE_FILE, GateResult, compare, decide
from edgekit.quant.gguf import F16, convert_to_f16, gguf_name, quantize
from edgekit.quant.lora_gguf import peft_to_gguf


def qa_set_stage(runner: Any, loaded: LoadedConfig, work: Path) -> Path | None:
    """Write the bundle's QA set to ``work/qa/qa.jsonl`` (user file or generated)."""
    if not qa_enabled(loaded):
        return None

    cfg = loaded.config
    given = user_set(loaded)
    teacher = cfg.data.augment.teacher if cfg.data.augment else None
    key = sha256_json(
        {
            "file": sha256_file(given) if given else None,
            "docs": None if given else sha256_tree(cfg.docs),
            "max_items": cfg.eval.qa.max_items,
            "teacher": teacher,
            "generator": 2,  # 2: technical-manual kinds, about one question per page
        }
    )
    out = qa_set_path(loaded)

    def run() -> str:
        if given is not None:
            items = read_qa_file(given)
        else:
            items = build_qa_set(
                cfg.docs, loaded.root, teacher=teacher, max_items=cfg.eval.qa.max_items
            )
        write_qa_jsonl(out, items)
        dev = sum(i.split == "dev" for i in items)
        unanswerable = sum(not i.answerable for i in items)
        origin = given.name if given else "generated from docs"
        return (
            f"{len(items)} questions ({dev} dev, {len(items) - dev} test, "
            f"{unanswerable} unanswerable), {origin}"
        )

    runner.stage("qa set", key, [out], run)
    return out


def qa_eval_stage(
    runner: Any,
    loaded: LoadedConfig,
    bundle: Path,
    package_key: str,
    qa_set: Path,
    tar: Path | None,
    style: str | None = None,
) -> dict[str, Any] | None:
    """Choose answer settings on dev, answer test, store it all in the bundle; returns the
    new manifest (None when skipped). ``style``: the prompt style the tuning gate chose
    and compared base and tuned in, kept (the bundle ships the style the gate decided in)."""

    settings = loaded.config.eval.qa
    pinned = pinned_settings(loaded)
    key = sha256_json(
        {
            "package": package_key,
            "set": sha256_file(qa_set),
            "qa": settings.model_dump(mode="json"),
            "pinned": pinned,
            "style": style,
        }
    )
    out: dict[str, Any] = {}

    def run() -> str:
        from rich.progress import Progress

        items = load_qa_jsonl(qa_set)
        with Progress(
            transient=True, console=runner.console, disable=not runner.console.is_terminal
        ) as bar:
            task = bar.add_task("qa eval", total=None)
            result = evaluate_bundle(
                bundle,
                items,
                choose=settings.choose,
                choose_items=settings.choose_items,
                full_search=settings.search == "full",
                pinned=pinned,
                style=style,
                max_tokens=settings.max_tokens,
                qtype=settings.quant,
                compare_config=settings.compare_config,
                progress=lambda done, total, what: bar.update(
                    task, completed=done, total=total, description=f"qa eval: {what}"
                ),
            )
        out["manifest"] = save_qa(bundle, result, items, tar=tar is not None).manifest
        m = headline(result)
        acc = m.get("answer_accuracy")
        cited = m.get("citation_accuracy")
        return (
            f"test: answer right {acc:.2f}, cited {cited:.2f} "
            f"({result['items']['test']} questions, {result['seconds']:.0f}s)"
            if acc is not None and cited is not None
            else f"{result['items']['test']} test questions"
        )

    outputs = [bundle / mf.REPORT_QA] + ([tar] if tar else [])
    runner.stage("eval qa", key, outputs, run, spinner=False)
    return out.get("manifest")


def gate_stage(
    runner: Any,
    loaded: LoadedConfig,
    work: Path,
    base: Any,
    trained: Any,
    qa_set: Path | None,
    kb_dir: Path | None,
) -> Any:
    """Measure base vs tuned on the QA dev split in the answer style that ships (chosen
    first, with the tuned model); returns a GateResult (None when there is nothing to
    compare: no LoRA, no QA set or no KB)."""

    cfg = loaded.config
    if trained is None or trained.adapter is None or qa_set is None or kb_dir is None:
        return None

    gate_dir = WorkLayout(work).gate
    report = gate_dir / GATE_FILE
    adapter = trained.adapter
    settings = answer_settings(loaded).with_values(max_tokens=cfg.eval.qa.max_tokens)
    pinned = pinned_settings(loaded)
    key = sha256_json(
        {
            "base": base.sha256,
            "adapter": sha256_tree(adapter, ["adapter_model.safetensors", "adapter_config.json"]),
            "set": sha256_file(qa_set),
            "kb": sha256_file(kb_dir / "kb.json"),
            "settings": settings.tunable(),
            "max_tokens": settings.max_tokens,
            "items": cfg.eval.qa.choose_items,
            "gate": [cfg.train.gate, cfg.train.gate_min_gain, cfg.train.gate_max_general_ppl],
            "pinned": pinned,
            "style": 2,  # 2: compared in the style chosen with the tuned model
        }
    )

    def run() -> str:
        from edgekit.pipeline.train import read_forgetting
        from edgekit.runtime.answer.prompting import load_rules

        f16 = convert_to_f16(base.path, gate_dir / gguf_name(F16), log=gate_dir / "convert.log")
        gguf = quantize(f16, gate_dir / gguf_name("Q8_0"), "Q8_0")
        f16.unlink()
        lora = peft_to_gguf(adapter, base.path, gate_dir / "adapter.gguf")
        dev = [i for i in load_qa_jsonl(qa_set) if i.split == "dev"][: cfg.eval.qa.choose_items]
        rules = load_rules(cfg.prompt.rules)
        base_m, tuned_m, chosen, why = compare(gguf, lora, kb_dir, rules, settings, dev, pinned)
        general = (read_forgetting(trained) or {}).get("general") or {}
        result = decide(
            base_m,
            tuned_m,
            general.get("ratio"),
            cfg.train.gate_max_general_ppl,
            cfg.train.gate_min_gain,
            enforced=cfg.train.gate,
        )
        result.settings, result.style, result.choice_reason = (
            chosen.tunable(),
            chosen.prompt_style,
            why,
        )
        atomic_write_json(report, result.to_json())
        return f"ships {result.shipped} (compared in {chosen.prompt_style}): {result.reason}"

    runner.stage("tuning gate", key, [report], run)
    return GateResult(**json.loads(report.read_text()))
