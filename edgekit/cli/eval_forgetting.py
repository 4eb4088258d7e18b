"""`edgekit eval forgetting`: what tuning cost on general data, and gained on the domain."""

from __future__ import annotations

from pathlib import Path

import click

from edgekit.cli.common import _console, config_argument, json_option, training_paths


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

    loaded, work = training_paths(config)
    cfg = loaded.config
    tuned = tuned or work.output(cfg.train.method)
    base = prepare_model(cfg.model.base)
    with _console(stderr=True).status("evaluating …"):
        result = evaluate_forgetting(base, tuned, work.data, cfg.train.max_seq_len)
    atomic_write_json(work.forgetting, result)
    click.echo(json.dumps(result) if as_json else format_table(result))
