"""`edgekit eval qa`: answer accuracy, citations, retrieval, abstention and loops of a
bundle on its QA set (or a given one), through the one answer path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from edgekit.cli.common import _console, bundle_argument, json_option, progress_bar, threads_option

ROWS = (
    ("answer_accuracy", "answer right (normalised contains)"),
    ("token_f1", "token F1 (short answer)"),
    ("answer_words", "answer length (words)"),
    ("citation_accuracy", "excerpt holding the answer cited"),
    ("inline_citation_accuracy", "… and cited inline as [n]"),
    ("retrieval_hit", "retrieval hit@k"),
    ("abstention_rate", "abstains on unanswerable"),
    ("false_abstention_rate", "abstains on answerable"),
    ("degenerate_rate", "degenerate outputs"),
    ("seconds_per_answer", "seconds per answer"),
)


def qa_table(columns: dict[str, dict[str, Any]], title: str) -> Any:
    """Metrics as rows, one column per settings/model."""
    from rich.table import Table

    table = Table(title=title)
    table.add_column("metric")
    for name in columns:
        table.add_column(name, justify="right")
    for key, label in ROWS:
        cells = []
        for metrics in columns.values():
            v = metrics.get(key)
            cells.append("—" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v))
        table.add_row(label, *cells)
    return table


@click.command("qa", short_help="Answer accuracy with citations on the bundle's QA set.")
@bundle_argument
@click.option(
    "--set",
    "set_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A QA set (JSONL: question, answers, source, optional page/section/split). "
    "Default: the bundle's eval/qa.jsonl.",
)
@click.option(
    "--split",
    type=click.Choice(["test", "dev", "all"]),
    default="test",
    show_default=True,
    help="Which items to ask.",
)
@click.option("--max-tokens", type=int, default=None, help="Longest answer (default: bundle's).")
@click.option("--quant", default=None, help="Which GGUF type to evaluate (default: the default).")
@threads_option()
@click.option(
    "--config-settings",
    is_flag=True,
    help="Use the config's settings, not the ones the build chose on the dev split.",
)
@click.option(
    "--style",
    type=click.Choice(["cite", "short", "quote", "extract"]),
    default=None,
    help="Try another prompt style than the bundle's (see `prompt.prompt_style`).",
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write JSON here.")
@json_option("Print the whole result as JSON.")
def eval_qa(
    bundle_dir: Path,
    set_file: Path | None,
    split: str,
    max_tokens: int | None,
    quant: str | None,
    threads: int | None,
    config_settings: bool,
    style: str | None,
    out: Path | None,
    as_json: bool,
) -> None:
    """Ask BUNDLE the questions of its QA set and score the answers.

    Answer accuracy (a reference answer, normalised, occurs in the answer) and token F1,
    citation accuracy (the excerpt that holds the answer is among the answer's citations),
    retrieval hit@k, abstention on unanswerable questions, degenerate outputs and seconds
    per answer. The bundle is only read: nothing in it changes.
    """
    import json

    from edgekit.bundle import manifest as mf
    from edgekit.bundle.answer_settings import AnswerSettings
    from edgekit.errors import BundleError
    from edgekit.fsutil import atomic_write_json
    from edgekit.qa.evalset import load_qa_jsonl, read_qa_file
    from edgekit.qa.evaluate import split_of
    from edgekit.qa.run import QASession

    if set_file is not None:
        items = read_qa_file(set_file)
    elif (bundle_dir / mf.EVAL_QA_FILE).is_file():
        items = load_qa_jsonl(bundle_dir / mf.EVAL_QA_FILE)
    else:
        raise BundleError(
            f"{bundle_dir} has no {mf.EVAL_QA_FILE} (built without docs or with "
            "eval.qa.enabled: false); pass one with --set FILE"
        )
    items = split_of(items, split)
    if not items:
        raise click.UsageError(f"the set has no {split} items; try --split all")
    with _console(stderr=True).status("opening bundle …"):
        session = QASession.open(bundle_dir, qtype=quant, threads=threads)
    settings = AnswerSettings.from_manifest(session.site.manifest, chosen=not config_settings)
    settings = settings.with_values(max_tokens=max_tokens, prompt_style=style)
    bar = progress_bar("QA eval")
    result = session.evaluate(items, settings, lambda i, n: bar(i, n, ""))
    result |= {"bundle": str(bundle_dir), "split": split, "model": session.llm.model_path}
    if out is not None:
        atomic_write_json(out, result)
    if as_json:
        click.echo(json.dumps(result, indent=2, ensure_ascii=False))
        return
    label = "config settings" if config_settings else "bundle settings"
    _console().print(qa_table({label: result["metrics"]}, f"QA eval, {split} split"))
