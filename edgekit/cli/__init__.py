"""The `edgekit` command. It only wires options to typed functions.

Nothing heavy (torch, transformers, chromadb, llama_cpp) is imported at module level:
`edgekit --help` must stay instant. Each command imports what it needs when it runs.
"""

from __future__ import annotations

from pathlib import Path

import click

from edgekit import __version__
from edgekit.cli.common import _console, _Group, threads_option


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edgekit")
def cli() -> None:
    """edgekit: domain documents + a base model -> a verified, offline LLM bundle.

    Start with `edgekit init myproject`, then `edgekit build myproject/edgekit.yaml`
    and `edgekit chat myproject/dist/<name>-<version>`.
    """


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--base",
    default=None,
    help="Base model spec written into the config (default: the config's model.base, "
    "builtin:smollm2-135m).",
)
@click.option("--force", is_flag=True, help="Overwrite an existing edgekit.yaml.")
@click.option(
    "--lang",
    type=click.Choice(["en", "zh"]),
    default="en",
    show_default=True,
    help="Language of the example docs and of the system prompt (zh: Chinese).",
)
def init(directory: Path, base: str | None, force: bool, lang: str) -> None:
    """Write a starter edgekit.yaml and example docs.

    Creates DIRECTORY/edgekit.yaml (every key commented) and DIRECTORY/docs/.
    """
    from edgekit.init import init_project

    path = init_project(directory, base=base, force=force, lang=lang)
    click.echo(f"wrote {path}\nnext: edgekit build {path}")


@click.command()
@click.argument("config", type=click.Path(path_type=Path))
def validate(config: Path) -> None:
    """Check a config file; errors name the key (exit 2).

    Reports unknown keys, wrong types and missing paths, each with the file name.
    """
    from edgekit.config import load_config

    loaded = load_config(config)
    click.echo(f"{loaded.path}: OK (bundle {loaded.config.name}-{loaded.config.version})")


@click.group(cls=_Group)
def model() -> None:
    """Prepare base models as local checkpoints."""


@model.command("prepare")
@click.argument("spec")
def model_prepare(spec: str) -> None:
    """Materialise SPEC as a checkpoint in the cache.

    SPEC is builtin:smollm2-135m, builtin:tiny-random or a local HF model folder.
    The cache is $EDGEKIT_HOME (default ~/.cache/edgekit), keyed by content hash.
    """
    from edgekit.models import prepare_model

    with _console(stderr=True).status(f"preparing {spec} …"):
        prepared = prepare_model(spec)
    state = "cached" if prepared.cached else "prepared"
    click.echo(f"{state}: {prepared.path}\nsha256: {prepared.sha256}")


@click.command()
@click.option(
    "--base", "base_spec", required=True, help="Base model spec the adapter was trained on."
)
@click.option(
    "--adapter",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="PEFT LoRA adapter directory.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output directory for the merged checkpoint (safetensors).",
)
def merge(base_spec: str, adapter: Path, out: Path) -> None:
    """Merge a LoRA adapter into its base model.

    Refuses a base whose hash differs from the one the adapter records.
    """
    from edgekit.merge import merge_adapter

    with _console(stderr=True).status("merging …"):
        merged = merge_adapter(base_spec, adapter, out)
    click.echo(f"merged: {merged.path}\nsha256: {merged.sha256}")


@click.command()
@click.argument("model_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--gguf",
    "types",
    default=None,
    help="Comma-separated llama.cpp types, e.g. Q8_0,Q6_K,Q5_K_M,Q4_K_M,F16 "
    "(default: Q8_0 unless only --gptq is given).",
)
@click.option(
    "--gptq",
    "gptq_spec",
    default=None,
    help="Also write a GPTQ checkpoint to OUT/gptq, e.g. bits=4,group_size=128[,samples=128].",
)
@click.option(
    "--calibration",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="GPTQ calibration text: .txt, chat .jsonl or a docs folder; domain text, never "
    "eval data (repeatable; default: edgekit's general prompts).",
)
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
@threads_option("Quantization threads (default: all).")
def quantize(
    model_dir: Path,
    types: str | None,
    gptq_spec: str | None,
    calibration: tuple[Path, ...],
    out: Path,
    threads: int | None,
) -> None:
    """Convert an HF checkpoint to quantized GGUF files and/or a GPTQ checkpoint.

    Runs llama.cpp's converter to F16, then each type; prints size and bits/weight. With
    --gptq, GPTQModel writes a standard GPTQ checkpoint (transformers, vLLM, TGI load it).
    """
    from rich.table import Table

    from edgekit.config import QuantizeSection
    from edgekit.quant.gguf import quantize_model

    if types is None:
        types = "" if gptq_spec else "Q8_0"
    listed = [t.strip() for t in types.split(",") if t.strip()]
    try:
        wanted = QuantizeSection(gguf=listed).gguf if listed else []
    except Exception as exc:  # pydantic's message names the bad type
        raise click.BadParameter(str(exc), param_hint="--gguf") from None
    table = Table("type", "file", "size (MiB)", "bits/weight")
    if wanted:
        with _console(stderr=True).status("converting and quantizing …"):
            files = quantize_model(model_dir, list(wanted), out, threads=threads)
        for f in files:
            size, bpw = f"{f.size / 2**20:.1f}", f"{f.bits_per_weight:.2f}"
            table.add_row(f.qtype, str(f.path), size, bpw)
    if gptq_spec:
        from edgekit.cli.quality import gptq_cli

        table.add_row(*gptq_cli(model_dir, gptq_spec, calibration, out / "gptq", threads))
    _console().print(table)


@click.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Re-run every stage even if its inputs did not change.")
@click.option(
    "--wheelhouse",
    is_flag=True,
    help="Also add the site extra's wheels and installer (bundle.wheelhouse in the config).",
)
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Also show what libraries print (banners, warnings, their progress bars); by "
    "default it goes to .edgekit/<name>/build-output.log.",
)
def build(config: Path, force: bool, wheelhouse: bool, verbose: bool) -> None:
    """Build the bundle that CONFIG describes.

    Stages: prepare base -> QA set -> knowledge base -> [data -> train -> tuning gate] ->
    [merge adapter] -> convert -> quantize -> [wheelhouse] -> package -> eval qa ->
    [eval behaviour]. A stage whose inputs did not change since the last build is skipped.
    """
    import contextlib

    from edgekit import terminal
    from edgekit.config import load_config
    from edgekit.config.layout import WorkLayout
    from edgekit.pipeline import build as run_build

    loaded = load_config(config)
    if wheelhouse:
        cfg = loaded.config
        bundle_section = cfg.bundle.model_copy(update={"wheelhouse": True})
        loaded = loaded.model_copy(
            update={"config": cfg.model_copy(update={"bundle": bundle_section})}
        )
    log = WorkLayout.of(loaded).output_log
    quiet = contextlib.nullcontext() if verbose else terminal.third_party_to_log(log)
    with quiet:
        result = run_build(loaded, console=_console(stderr=True), force=force)
    click.echo(f"bundle: {result.bundle}")
    if result.tar:
        click.echo(f"archive: {result.tar}")


def _register() -> None:
    """Every command and group, added the one way (each group fills itself in its module)."""
    from edgekit.cli.adapter import adapter
    from edgekit.cli.apikey import apikey
    from edgekit.cli.audit import audit
    from edgekit.cli.bundle import bundle, keygen
    from edgekit.cli.chat import chat
    from edgekit.cli.data import data
    from edgekit.cli.doctor import doctor
    from edgekit.cli.evaluate import eval_group
    from edgekit.cli.install import install
    from edgekit.cli.kb import kb
    from edgekit.cli.serve import serve
    from edgekit.cli.train import train

    for command in (
        init,
        validate,
        model,
        merge,
        quantize,
        build,
        bundle,
        keygen,
        chat,
        kb,
        data,
        train,
        eval_group,
        serve,
        apikey,
        audit,
        doctor,
        install,
        adapter,
    ):
        cli.add_command(command)


_register()


def main() -> None:
    cli(prog_name="edgekit")


if __name__ == "__main__":
    main()
