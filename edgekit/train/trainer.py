"""`edgekit train`: continued pretraining and/or SFT, LoRA or full, on CPU or GPU.

The loop runs under `accelerate`, so the same code scales out with `accelerate launch`
(DDP/FSDP). Checkpoints hold the trainable weights, optimizer, scheduler, RNG states and the
position in the data; `--resume` continues from the newest one. Only the main process writes.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekit import deps, terminal
from edgekit.config import LoadedConfig
from edgekit.config.layout import ADAPTER_DIR, FULL_DIR, TRAIN_FILE
from edgekit.config.train import quantize_base_problem
from edgekit.errors import ConfigError, EdgekitError
from edgekit.fsutil import atomic_write_json, replace_dir, sha256_file, sha256_json, temp_dir_beside
from edgekit.model_records import (
    A_BASE_SHA256,
    A_BASE_SPEC,
    ADAPTER_RECORD,
    M_SHA256,
    M_SPEC,
    MODEL_RECORD,
)
from edgekit.models import PreparedModel, checkpoint_hash, prepare_model
from edgekit.train.curve import plot_curve
from edgekit.train.device import cpu_only, use_bf16
from edgekit.train.model_setup import load_base, prepare_for_training
from edgekit.train.tokenize import collate, load_examples

LOG_FILE, CURVE_PNG, STATE_FILE = "train-log.jsonl", "loss.png", "trainer_state.json"
CKPT_DIR = "checkpoints"


@dataclass
class TrainResult:
    output: Path  # the adapter dir (lora) or model dir (full)
    steps: int
    final_loss: float
    tokens_per_s: float
    log: Path


def _latest_checkpoint(out: Path) -> Path | None:
    ckpts = sorted((out / CKPT_DIR).glob("step-*"), key=lambda p: int(p.name.split("-")[1]))
    return ckpts[-1] if ckpts else None


class Trainer:
    def __init__(
        self,
        loaded: LoadedConfig,
        data_dir: Path,
        out: Path,
        base: PreparedModel,
        log_progress: bool = True,
    ) -> None:
        self.cfg = loaded.config.train
        self.loaded, self.data_dir, self.out, self.base = loaded, data_dir, out, base
        self.torch = deps.require("torch")
        self.transformers = deps.require("transformers")
        accelerate = deps.require("accelerate")
        self.acc = accelerate.Accelerator(
            cpu=cpu_only(), gradient_accumulation_steps=self.cfg.grad_accum
        )
        self.log_progress = log_progress and self.acc.is_main_process
        self.bf16 = use_bf16(self.cfg.precision, self.acc.device.type)
        # a 4-bit base on a device that cannot run it fails here, before any data is read
        problem = quantize_base_problem(
            self.cfg.quantize_base, self.cfg.method, self.acc.device.type
        )
        if problem:
            raise ConfigError(str(loaded.path), [f"train.quantize_base: {problem}"])
        self.gradient_checkpointing: bool | None = None  # resolved when the model loads

    def autocast(self) -> Any:
        return self.torch.autocast(
            self.acc.device.type, dtype=self.torch.bfloat16, enabled=self.bf16
        )

    # ---- setup ---------------------------------------------------------------------------
    def _model(self) -> Any:
        cfg = self.cfg
        self.torch.manual_seed(cfg.seed)
        model = load_base(self.base.path, cfg.quantize_base, self.acc.device)
        model, self.gradient_checkpointing = prepare_for_training(
            model,
            cfg.method,
            cfg.lora,
            cfg.gradient_checkpointing,
            quantized=cfg.quantize_base == "4bit",
        )
        return model

    def _plan(self, n_examples: int) -> tuple[int, int]:
        """(batches per epoch for this process, optimizer steps) for one stage."""
        world = self.acc.num_processes
        per_epoch = math.ceil(n_examples / self.cfg.batch_size / world)
        steps = math.ceil(per_epoch * self.cfg.epochs / self.cfg.grad_accum)
        if self.cfg.max_steps:
            steps = min(steps, self.cfg.max_steps) if self.cfg.epochs else self.cfg.max_steps
        return per_epoch, max(1, steps)

    def _batches(self, lengths: list[int], epoch: int) -> list[list[int]]:
        """Seeded batches of similar length (less padding), in random order."""
        rng = random.Random(self.cfg.seed * 1000 + epoch)
        order = list(range(len(lengths)))
        rng.shuffle(order)
        bs = self.cfg.batch_size
        mega = bs * 16
        batches = []
        for i in range(0, len(order), mega):
            group = sorted(order[i : i + mega], key=lambda j: -lengths[j])
            batches += [group[k : k + bs] for k in range(0, len(group), bs)]
        rng.shuffle(batches)
        return batches[self.acc.process_index :: self.acc.num_processes]

    # ---- checkpoints ---------------------------------------------------------------------
    def _trainable(self, model: Any) -> dict[str, Any]:
        unwrapped = self.acc.unwrap_model(model)
        return {n: p.detach().cpu() for n, p in unwrapped.named_parameters() if p.requires_grad}

    def _save(self, model: Any, opt: Any, sched: Any, state: dict[str, Any]) -> None:
        self.acc.wait_for_everyone()
        if not self.acc.is_main_process:
            return
        torch = self.torch
        target = self.out / CKPT_DIR / f"step-{state['global_step']}"
        tmp = target.with_name(target.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        torch.save(
            {
                "weights": self._trainable(model),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "python_rng": random.getstate(),
            },
            tmp / "state.pt",
        )
        (tmp / STATE_FILE).write_text(json.dumps(state))
        tmp.rename(target)  # a checkpoint exists only once it is complete
        for old in sorted(
            (self.out / CKPT_DIR).glob("step-*"), key=lambda p: int(p.name.split("-")[1])
        )[:-2]:
            shutil.rmtree(old, ignore_errors=True)

    def _load(self, ckpt: Path, model: Any, opt: Any, sched: Any) -> dict[str, Any]:
        blob = self.torch.load(ckpt / "state.pt", weights_only=False)
        missing = self.acc.unwrap_model(model).load_state_dict(blob["weights"], strict=False)
        if missing.unexpected_keys:
            raise EdgekitError(f"{ckpt}: checkpoint does not match this model/config")
        opt.load_state_dict(blob["optimizer"])
        sched.load_state_dict(blob["scheduler"])
        self.torch.set_rng_state(blob["torch_rng"])
        random.setstate(blob["python_rng"])
        return json.loads((ckpt / STATE_FILE).read_text())

    # ---- the loop ------------------------------------------------------------------------
    def _eval_loss(self, model: Any, examples: list[dict[str, list[int]]], pad: int) -> float:
        torch = self.torch
        model.eval()
        total, count = 0.0, 0
        with torch.no_grad():
            for i in range(0, len(examples), self.cfg.batch_size):
                batch = {
                    k: v.to(self.acc.device)
                    for k, v in collate(examples[i : i + self.cfg.batch_size], pad).items()
                }
                n = int((batch["labels"][:, 1:] != -100).sum())
                with self.autocast():
                    total += float(model(**batch).loss) * n
                count += n
        model.train()
        return total / max(count, 1)

    def _data(self, tok: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """(training examples per stage, held-out eval examples by name)."""
        cfg = self.cfg
        data = {s: load_examples(tok, self.data_dir, s, cfg.max_seq_len) for s in cfg.stages}
        for stage, rows in data.items():
            if not rows:
                raise EdgekitError(f"{self.data_dir}: no {stage} examples to train on")
        evals = {}
        for name, file in (
            ("eval_domain", "eval_domain.jsonl"),
            ("eval_general", "eval_general.jsonl"),
        ):
            if (self.data_dir / file).is_file():
                evals[name] = load_examples(tok, self.data_dir, "sft", cfg.max_seq_len, file)
        return data, evals

    def _start(self, model: Any, total_steps: int, resume: bool) -> tuple[Any, ...]:
        """(model, optimizer, schedule, loop state): fresh, or from the last checkpoint."""
        cfg, acc = self.cfg, self.acc
        params = [p for p in model.parameters() if p.requires_grad]
        opt = self.torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=0.0)
        sched = self.transformers.get_linear_schedule_with_warmup(
            opt, int(total_steps * cfg.warmup_ratio), total_steps
        )
        model, opt = acc.prepare(model, opt)
        state: dict[str, Any] = {
            "global_step": 0,
            "stage_index": 0,
            "stage_step": 0,
            "epoch": 0,
            "batch": 0,
            "losses": [],
        }
        ckpt = _latest_checkpoint(self.out) if resume else None
        if ckpt is not None:
            state = self._load(ckpt, model, opt, sched)
        elif acc.is_main_process:
            shutil.rmtree(self.out / CKPT_DIR, ignore_errors=True)
            (self.out / LOG_FILE).unlink(missing_ok=True)
        return model, opt, sched, state

    def _loss(self, model: Any, batch: dict[str, Any], cache: Any) -> tuple[Any, dict[str, float]]:
        """The batch's loss (cross-entropy, mixed with the teacher's KL when distilling) and
        the logged terms."""
        with self.autocast():
            out = model(**batch)
        if cache is None:
            return out.loss, {}
        from edgekit.train.distill import kl_loss

        d = self.cfg.distill
        kl = kl_loss(out.logits, cache, d.temperature)
        # both terms are logged, so a run shows what the teacher added
        terms = {"ce": float(out.loss.detach()), "distill_kl": float(kl.detach())}
        return (1 - d.weight) * out.loss + d.weight * kl, terms

    def run(self, resume: bool = False) -> TrainResult:
        cfg, acc = self.cfg, self.acc
        tok = self.transformers.AutoTokenizer.from_pretrained(self.base.path)
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        data, evals = self._data(tok)
        plans = {s: self._plan(len(data[s])) for s in cfg.stages}
        total_steps = sum(steps for _, steps in plans.values())
        model, opt, sched, state = self._start(self._model(), total_steps, resume)
        caches = self._teacher_caches(data)
        self.out.mkdir(parents=True, exist_ok=True)
        bar = self._bar(total_steps, state["global_step"])
        tokens, started = 0, time.perf_counter()
        model.train()
        for si in range(state["stage_index"], len(cfg.stages)):
            stage = cfg.stages[si]
            examples, (_, steps) = data[stage], plans[stage]
            while state["stage_step"] < steps:
                batches = self._batches([len(x["input_ids"]) for x in examples], state["epoch"])
                for b in range(state["batch"], len(batches)):
                    rows = [examples[i] for i in batches[b]]
                    batch = {k: v.to(acc.device) for k, v in collate(rows, pad).items()}
                    cache = [caches[stage][i] for i in batches[b]] if stage in caches else None
                    with acc.accumulate(model):
                        loss, loss_terms = self._loss(model, batch, cache)
                        acc.backward(loss)
                        if acc.sync_gradients:
                            opt.step()
                            sched.step()
                            opt.zero_grad()
                    tokens += int(batch["attention_mask"].sum())
                    if not acc.sync_gradients:
                        continue
                    state["stage_step"] += 1
                    state["global_step"] += 1
                    state["batch"] = b + 1
                    rate = tokens / (time.perf_counter() - started)
                    row = {
                        "stage": stage,
                        "step": state["global_step"],
                        "epoch": state["epoch"],
                        "loss": float(loss.detach()),
                        **loss_terms,
                        "lr": sched.get_last_lr()[0],
                        "tokens_per_s": rate,
                    }
                    if state["global_step"] % cfg.eval_every == 0 or (
                        si == len(cfg.stages) - 1 and state["stage_step"] >= steps
                    ):
                        row |= {k: self._eval_loss(model, v, pad) for k, v in evals.items() if v}
                    self._log(row, bar)
                    state["losses"].append(row["loss"])
                    if state["global_step"] % cfg.save_every == 0:
                        self._save(model, opt, sched, state)
                    if state["stage_step"] >= steps:
                        break
                else:
                    state["epoch"] += 1
                    state["batch"] = 0
            state.update(stage_index=si + 1, stage_step=0, epoch=0, batch=0)
        if bar is not None:
            bar.close()
        rate = tokens / max(time.perf_counter() - started, 1e-9)
        output = self._write_output(model, tok)
        return TrainResult(
            output,
            state["global_step"],
            state["losses"][-1] if state["losses"] else float("nan"),
            rate,
            self.out / LOG_FILE,
        )

    def _teacher_caches(self, data: dict[str, list[dict[str, list[int]]]]) -> dict[str, Any]:
        d = self.cfg.distill
        if d.teacher is None:
            return {}
        from edgekit.train.distill import teacher_cache

        teacher = prepare_model(d.teacher)
        caches = {}
        for stage, examples in data.items():
            key = sha256_json(
                {"t": teacher.sha256, "x": examples, "k": d.top_k, "T": d.temperature}
            )
            path = self.out / f"teacher-{stage}-{key[:16]}.pt"
            caches[stage] = teacher_cache(teacher.path, examples, d.top_k, d.temperature, path)
        return caches

    def _bar(self, total: int, done: int) -> Any:
        if not self.log_progress:
            return None
        from tqdm.auto import tqdm

        return tqdm(
            total=total,
            initial=done,
            desc="train",
            unit="step",
            dynamic_ncols=True,
            file=terminal.stream(),
            disable=None,  # no bar where the stream is not a terminal (CI logs, pipes)
        )

    def _log(self, row: dict[str, Any], bar: Any) -> None:
        if not self.acc.is_main_process:
            return
        with open(self.out / LOG_FILE, "a") as f:
            f.write(json.dumps(row) + "\n")
        if bar is not None:
            bar.set_postfix(loss=f"{row['loss']:.3f}", tok_s=f"{row['tokens_per_s']:.0f}")
            bar.update(1)

    def _write_output(self, model: Any, tok: Any) -> Path:

        self.acc.wait_for_everyone()
        unwrapped = self.acc.unwrap_model(model)
        target = self.out / (ADAPTER_DIR if self.cfg.method == "lora" else FULL_DIR)
        if not self.acc.is_main_process:
            return target
        tmp = temp_dir_beside(target)
        unwrapped.save_pretrained(tmp, safe_serialization=True)
        data_hash = sha256_file(self.data_dir / TRAIN_FILE)
        record = {
            A_BASE_SPEC: self.base.spec,
            A_BASE_SHA256: self.base.sha256,
            "method": self.cfg.method,
            "stages": list(self.cfg.stages),
            "train_data_sha256": data_hash,
            "train_config": self.cfg.model_dump(),
            "gradient_checkpointing": self.gradient_checkpointing,
            "processes": self.acc.num_processes,
        }
        if self.cfg.method == "lora":
            atomic_write_json(tmp / ADAPTER_RECORD, record)
        else:
            tok.save_pretrained(tmp)
            atomic_write_json(
                tmp / MODEL_RECORD,
                record
                | {
                    M_SPEC: f"{self.base.spec}+full-ft:{data_hash[:12]}",
                    M_SHA256: checkpoint_hash(tmp),
                },
            )
        replace_dir(tmp, target)

        plot_curve(self.out / LOG_FILE, self.out / CURVE_PNG)
        return target


def train(
    loaded: LoadedConfig,
    data_dir: Path,
    out: Path,
    base: PreparedModel,
    resume: bool = False,
    progress: bool = True,
) -> TrainResult:
    """Train per ``loaded.config.train`` on the files in ``data_dir``; outputs under ``out``."""
    return Trainer(loaded, data_dir, out, base, log_progress=progress).run(resume=resume)
