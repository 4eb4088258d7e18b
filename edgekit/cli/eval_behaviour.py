"""`edgekit eval behaviour`: score a bundle's answers on its behaviour eval set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from edgekit.cli.common import _console, bundle_argument, json_option, progress_bar, threads_option


def _seeds(ctx: click.Context, param: click.Parameter, value: str | None) -> list[int] | None:
    if value is None:
        return None
    try:
        return [int(s) for s in value.split(",") if s.strip()]
    except ValueError:
        raise click.BadParameter("comma-separated integers, e.g. 1,2,3") from None


@click.command("behaviour", short_help="Score a bundle's answers: correct, compliant, safe...")
@bundle_argument
@click.option("--limit", type=int, default=None, help="Eval items to use (default 20).")
@click.option(
    "--seeds", callback=_seeds, default=None, help="Sampling seeds, e.g. 1,2,3 (the default)."
)
@click.option("--max-tokens", type=int, default=None, help="Longest answer (default 128).")
@click.option("--length-words", type=int, default=None, help="Word limit asked for (default 30).")
@click.option("--quant", default=None, help="Which GGUF type to evaluate (default: the default).")
@threads_option()
@click.option(
    "--save",
    is_flag=True,
    help="Also store the results in the bundle (report/behaviour.json, manifest, report); "
    "this removes its signature. Without it the bundle is only read.",
)
@json_option("Print the whole result as JSON.")
def eval_behaviour(
    bundle_dir: Path,
    limit: int | None,
    seeds: list[int] | None,
    max_tokens: int | None,
    length_words: int | None,
    quant: str | None,
    threads: int | None,
    save: bool,
    as_json: bool,
) -> None:
    """Ask BUNDLE its held-out questions through the site runtime and score the answers.

    Correctness (KB on and off), compliance (JSON, length), stability (rewording, seeds),
    diversity, multi-turn consistency, safety (bundled red-team prompts) and fluency.
    The bundle is only read; with --save the results go into it (report/behaviour.json,
    manifest, report) and its signature is removed (re-sign with `edgekit bundle sign`).
    """
    import json

    from pydantic import ValidationError

    from edgekit.behaviour.run import evaluate_behaviour
    from edgekit.bundle.amend import RESIGN
    from edgekit.bundle.inspect import behaviour_table
    from edgekit.config.eval import BehaviourSection

    given: dict[str, Any] = {
        "limit": limit,
        "seeds": seeds,
        "max_tokens": max_tokens,
        "length_words": length_words,
        "quant": quant,
    }
    try:
        settings = BehaviourSection(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        raise click.UsageError(str(exc)) from None
    result = evaluate_behaviour(
        bundle_dir, settings, threads=threads, progress=progress_bar("behaviour eval")
    )
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        from edgekit.behaviour.save import summary

        _console().print(behaviour_table(summary(result)))
        click.echo(f"{result['generations']} answers in {result['seconds']:.1f}s")
    if not save:
        return
    from edgekit.behaviour.save import save_behaviour

    saved = save_behaviour(bundle_dir, result)
    click.echo(f"saved into {bundle_dir}: {', '.join(saved.changed)}", err=True)
    if saved.signature_removed:
        click.secho(f"note: {RESIGN}", fg="yellow", err=True)
