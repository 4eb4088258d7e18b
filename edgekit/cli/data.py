"""`edgekit data build`: training data from a config's documents."""

from __future__ import annotations

from pathlib import Path

import click

from edgekit.cli.common import _Group, config_argument, progress_bar, training_paths


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

    loaded, work = training_paths(config)
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
