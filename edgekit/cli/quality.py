"""`edgekit eval quant`: each GGUF type (and a GPTQ checkpoint) against F16, table + PNG."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from edgekit.cli.common import _console, json_option, threads_option
from edgekit.config.quant import QuantizeSection
from edgekit.errors import EdgekitError
from edgekit.quant.inputs import find_models, gptq_rows, hf_params, measure_texts
from edgekit.resources import general_texts

_QUANT = QuantizeSection()  # the defaults of the config's `quantize:` section
_BUDGET = _QUANT.budget


@click.command("quant")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--reference",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="F16 GGUF to compare against (default: the F16 GGUF in PATH).",
)
@click.option(
    "--text",
    "texts",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Held-out text: .txt, chat .jsonl or a docs folder (repeatable; default: the "
    "bundle's eval sets, else edgekit's general prompts).",
)
@click.option(
    "--max-kld", type=float, default=_BUDGET.max_kld, show_default=True, help="Budget: mean KLD."
)
@click.option(
    "--max-ppl-increase",
    type=float,
    default=_BUDGET.max_ppl_increase,
    show_default=True,
    help="Budget: ΔPPL in %.",
)
@click.option(
    "--tokens", type=int, default=_QUANT.eval_tokens, show_default=True, help="Tokens scored."
)
@click.option("--gptq/--no-gptq", default=True, help="Add a row for a GPTQ checkpoint found.")
@click.option("--speed/--no-speed", default=True, help="Measure generation tokens/s.")
@threads_option()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for quant.json and quant.png (default: PATH for a folder of GGUFs, "
    "./<bundle>-quant for a bundle, which must stay as signed).",
)
@json_option("Print the table as JSON.")
def eval_quant(
    path: Path,
    reference: Path | None,
    texts: tuple[Path, ...],
    max_kld: float,
    max_ppl_increase: float,
    tokens: int,
    gptq: bool,
    speed: bool,
    threads: int | None,
    out: Path | None,
    as_json: bool,
) -> None:
    """Measure each GGUF type in PATH (a bundle or a folder of GGUFs) against F16.

    Perplexity and ΔPPL %, mean KL divergence and same-top-token rate from llama.cpp logits
    on held-out text, size and bits/weight, tokens/s; a GPTQ checkpoint is scored the same
    way through transformers. Prints the table, the type `gguf: auto` would ship under the
    budget, and writes quant.json + quant.png.
    """
    from edgekit.quant.auto import format_table, measure, smallest_first, write_report
    from edgekit.quant.gguf import F16, count_params
    from edgekit.runtime.threads import default_threads

    ggufs, gptq_dir, manifest = find_models(path)
    reference = reference or ggufs.get(F16)
    if reference is None:
        stored = path / "report" / "quant.json"
        if manifest is not None and stored.is_file():
            report = json.loads(stored.read_text())
            click.echo(json.dumps(report) if as_json else format_table(report))
            click.secho(
                "(measured at build time; this bundle ships no F16 GGUF: pass --reference "
                "<project>/.edgekit/<name>/gguf/model-f16.gguf to measure again)",
                err=True,
                fg="yellow",
            )
            return
        raise EdgekitError(f"{path}: no F16 GGUF to compare against; pass --reference FILE")
    threads = threads or default_threads()
    text, note = measure_texts(path, manifest, texts)
    if note:
        click.secho(f"note: {note}", fg="yellow", err=True)
    budget = {"max_kld": max_kld, "max_ppl_increase": max_ppl_increase}
    n_params = count_params(reference)
    extra = None
    if gptq and gptq_dir is not None:
        extra = gptq_rows(reference, gptq_dir, text, tokens, threads, budget, n_params)
    with _console(stderr=True).status("measuring …"):
        report = measure(
            reference,
            smallest_first([t for t in ggufs if t != F16]),
            text,
            budget,
            produce=ggufs.__getitem__,
            n_params=n_params,
            total_tokens=tokens,
            threads=threads,
            speed=speed,
            extra_rows=extra,
        )
    if out is None:
        out = Path.cwd() / f"{path.resolve().name}-quant" if manifest is not None else path
    out.mkdir(parents=True, exist_ok=True)
    write_report(report, out / "quant.json", out / "quant.png")
    click.echo(json.dumps(report) if as_json else format_table(report))
    if not as_json:
        click.echo(f"wrote {out / 'quant.json'} and {out / 'quant.png'}")


def parse_gptq(spec: str) -> Any:
    """``bits=4,group_size=128[,samples=128]`` -> GPTQSection (BadParameter when wrong)."""
    from edgekit.config.quant import GPTQSection

    try:
        pairs = dict(part.split("=", 1) for part in spec.split(",") if part.strip())
        return GPTQSection(**{k.strip(): int(v) for k, v in pairs.items()})
    except Exception as exc:
        raise click.BadParameter(
            f"{spec!r}: expected bits=4,group_size=128[,samples=128] ({exc})",
            param_hint="--gptq",
        ) from None


def gptq_cli(
    model_dir: Path, spec: str, calibration: tuple[Path, ...], out: Path, threads: int | None
) -> tuple[str, str, str, str]:
    """`edgekit quantize --gptq`: write the checkpoint; returns its table row."""
    from edgekit.quant.gptq import checkpoint_size, quantize_gptq, require_gptqmodel
    from edgekit.quant.texts import read_texts

    g = parse_gptq(spec)
    require_gptqmodel()
    texts = [t for p in calibration for t in read_texts(p, rule_filter="replay")]
    fill = None
    if not texts:
        fill = general_texts()
        click.secho(
            "note: no --calibration text; calibrating on edgekit's general prompts "
            "(domain text calibrates better)",
            fg="yellow",
            err=True,
        )
    with _console(stderr=True).status(f"GPTQ {g.bits}-bit, {g.samples} samples …"):
        r = quantize_gptq(
            model_dir, out, texts, g.bits, g.group_size, g.samples, threads=threads, fill=fill
        )
    for note in r.notes:
        click.secho(f"note: {note}", fg="yellow", err=True)
    click.echo(f"GPTQ: {r.samples} samples, {r.seconds:.0f}s; logs in {out.parent}/gptq.log")
    size = checkpoint_size(out)
    n_params = hf_params(model_dir)
    bpw = f"{size * 8 / n_params:.2f}" if n_params else "?"
    return r.label, str(out), f"{size / 2**20:.1f}", bpw
