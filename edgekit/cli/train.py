"""`edgekit data build`, `edgekit train`, `edgekit eval forgetting`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from edgekit.cli.common import _console, _Group, config_argument, json_option, progress_bar
from edgekit.config.layout import TRAIN_FILE, TrainingLayout

if TYPE_CHECKING:
    from edgekit.config import LoadedConfig


def _paths(config: Path) -> tuple[LoadedConfig, TrainingLayout]:
    from edgekit.config import load_config
    from edgekit.config.layout import WorkLayout

    loaded = load_config(config)
    return loaded, WorkLayout.of(loaded).main_training


@click.group(cls=_Group, short_help="Build training data from documents.")
def data() -> None:
    """Training data: documents -> chat JSONL by rules, replay, held-out splits."""


@data.command("build")
@config_argument
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder (default: the build's work folder).",
)
def data_build(config: Path, out: Path | None) -> None:
    """Build train/eval JSONL, pretraining text and a data card from CONFIG's docs."""
    from edgekit.data.build import build_data

    loaded, work = _paths(config)
    out = out or work.data
    progress = progress_bar("self-replay")
    card = build_data(loaded, out, progress=progress).as_dict()
    click.echo(f"wrote {out}")
    click.echo(f"  per rule: {card['per_rule']}")
    click.echo(
        f"  train: {card['train_domain']} domain + {card['train_replay']} replay; "
        f"held out: {card['eval_domain']} domain, {card['eval_general']} general"
    )
    click.echo(
        f"  dropped: {card['dropped'] or 'none'}; cut at a sentence: "
        f"{card['cut_at_sentence']}; multi-turn: {card['multi_turn']}; "
        f"dedupe rate {card['dedupe_rate']:.1%}"
    )
    for error in card["unparsed_files"]:
        click.secho(f"  skipped: {error}", fg="yellow", err=True)


@click.command(short_help="Continued pretraining / SFT, LoRA or full.")
@config_argument
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Data folder from `edgekit data build` (default: work folder).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder (default: the build's work folder).",
)
@click.option("--resume", is_flag=True, help="Continue from the newest checkpoint in --out.")
def train(config: Path, data_dir: Path | None, out: Path | None, resume: bool) -> None:
    """Train CONFIG's `train:` stages on built data; writes an adapter (or model).

    Runs on one CPU or GPU as is; scale out with `accelerate launch -m edgekit train ...`.
    """
    from edgekit.data.build import build_data
    from edgekit.models import prepare_model
    from edgekit.train.device import process_state
    from edgekit.train.trainer import train as run_train

    loaded, work = _paths(config)
    data_dir = data_dir or work.data
    state = process_state()
    # under `accelerate launch` every process runs this: rank 0 builds the data and
    # prepares the base model, the others then find both done
    with state.main_process_first():
        if not (data_dir / TRAIN_FILE).is_file():
            build_data(loaded, data_dir, progress=progress_bar("self-replay"))
        base = prepare_model(loaded.config.model.base)
    result = run_train(loaded, data_dir, out or work.train, base, resume=resume)
    if state.is_main_process:
        click.echo(
            f"{result.output}: {result.steps} steps, final loss {result.final_loss:.3f}, "
            f"{result.tokens_per_s:.0f} tokens/s; {state.num_processes} process(es); "
            f"log {result.log}"
        )


@click.command("forgetting")
@config_argument
@click.option(
    "--tuned",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Adapter or model folder (default: the build's trained one).",
)
@json_option("Print the result as JSON.")
def eval_forgetting(config: Path, tuned: Path | None, as_json: bool) -> None:
    """Perplexity base vs tuned on held-out domain and general data, and KL(base||tuned)."""
    import json

    from edgekit.fsutil import atomic_write_json
    from edgekit.models import prepare_model
    from edgekit.train.forgetting import evaluate_forgetting, format_table

    loaded, work = _paths(config)
    cfg = loaded.config
    tuned = tuned or work.output(cfg.train.method)
    base = prepare_model(cfg.model.base)
    with _console(stderr=True).status("evaluating …"):
        result = evaluate_forgetting(base, tuned, work.data, cfg.train.max_seq_len)
    atomic_write_json(work.forgetting, result)
    click.echo(json.dumps(result) if as_json else format_table(result))
