"""The `edgekit` command. It only wires options to typed functions.

Nothing heavy (torch, transformers, chromadb, llama_cpp) is imported at module level:
`edgekit --help` must stay instant. Each command imports what it needs when it runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from edgekit import __version__
from edgekit.cli_common import _console, _Group
from edgekit.errors import EdgekitError


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edgekit")
def cli() -> None:
    """edgekit: domain documents + a base model -> a verified, offline LLM bundle.

    Start with `edgekit init myproject`, then `edgekit build myproject/edgekit.yaml`
    and `edgekit chat myproject/dist/<name>-<version>`.
    """


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--base",
    default="builtin:smollm2-135m",
    show_default=True,
    help="Base model spec written into the config.",
)
@click.option("--force", is_flag=True, help="Overwrite an existing edgekit.yaml.")
@click.option(
    "--lang",
    type=click.Choice(["en", "zh"]),
    default="en",
    show_default=True,
    help="Language of the example docs and of the system prompt (zh: Chinese).",
)
def init(directory: Path, base: str, force: bool, lang: str) -> None:
    """Write a starter edgekit.yaml and example docs.

    Creates DIRECTORY/edgekit.yaml (every key commented) and DIRECTORY/docs/.
    """
    from edgekit.init import init_project

    path = init_project(directory, base=base, force=force, lang=lang)
    click.echo(f"wrote {path}\nnext: edgekit build {path}")


@cli.command()
@click.argument("config", type=click.Path(path_type=Path))
def validate(config: Path) -> None:
    """Check a config file; errors name the key (exit 2).

    Reports unknown keys, wrong types and missing paths, each with the file name.
    """
    from edgekit.config import load_config

    loaded = load_config(config)
    click.echo(f"{loaded.path}: OK (bundle {loaded.config.name}-{loaded.config.version})")


@cli.group(cls=_Group)
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


@cli.command()
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


@cli.command()
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
@click.option("--threads", type=int, default=None, help="Quantization threads (default: all).")
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
        from edgekit.cli_quality import gptq_cli

        table.add_row(*gptq_cli(model_dir, gptq_spec, calibration, out / "gptq", threads))
    _console().print(table)


@cli.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Re-run every stage even if its inputs did not change.")
@click.option(
    "--wheelhouse",
    is_flag=True,
    help="Also add the site extra's wheels and installer (bundle.wheelhouse in the config).",
)
def build(config: Path, force: bool, wheelhouse: bool) -> None:
    """Build the bundle that CONFIG describes.

    Stages: prepare base -> [merge adapter] -> convert -> quantize -> package.
    A stage whose inputs did not change since the last build is skipped.
    """
    from edgekit.config import load_config
    from edgekit.pipeline import build as run_build

    loaded = load_config(config)
    if wheelhouse:
        cfg = loaded.config
        bundle_section = cfg.bundle.model_copy(update={"wheelhouse": True})
        loaded = loaded.model_copy(
            update={"config": cfg.model_copy(update={"bundle": bundle_section})}
        )
    result = run_build(loaded, console=_console(stderr=True), force=force)
    click.echo(f"bundle: {result.bundle}")
    if result.tar:
        click.echo(f"archive: {result.tar}")


@cli.group(cls=_Group)
def bundle() -> None:
    """Verify, sign and inspect bundles."""


@bundle.command("verify")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--pubkey",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Also check the Ed25519 signature with this public key.",
)
def bundle_verify(path: Path, pubkey: Path | None) -> None:
    """Check every file against the manifest.

    Recomputes each sha256; reports changed, missing or extra files (exit 1).
    """
    from edgekit.bundle.verify import verify

    report = verify(path, full=True)
    if pubkey is not None:
        from edgekit.bundle.signing import check_signature

        report.problems += check_signature(path, pubkey)
    for problem in report.problems:
        click.secho(f"FAIL {problem}", fg="red")
    if not report.ok:
        raise EdgekitError(f"{path}: {len(report.problems)} problem(s); do not ship or run it")
    click.echo(f"OK {path}: {report.checked} files match the manifest")


@bundle.command("sign", short_help="Sign the manifest with an Ed25519 key.")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--key", "key_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
def bundle_sign(path: Path, key_path: Path) -> None:
    """Sign BUNDLE's manifest (which covers every file's hash); writes manifest.sig and
    rewrites BUNDLE.tar beside it, if there is one, to include it."""
    from edgekit.bundle.signing import sign_bundle
    from edgekit.bundle.verify import verify

    verify(path).raise_if_bad()  # never sign a bundle whose files do not match
    click.echo(f"signed: {sign_bundle(path, key_path)}")
    tar = path.with_name(path.name + ".tar")
    if tar.is_file():  # keep the archive beside it in step
        from edgekit.bundle.writer import write_tar

        click.echo(f"archive: {write_tar(path, tar)}")


@cli.command(short_help="Create an Ed25519 key pair for signing bundles.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
def keygen(out: Path) -> None:
    """Write OUT/edgekit.key (private, mode 0600) and OUT/edgekit.pub."""
    from edgekit.bundle.signing import keygen as make_keys

    priv, pub = make_keys(out)
    click.echo(f"private key: {priv}  (keep it off the site)\npublic key:  {pub}")


@bundle.command("inspect")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
def bundle_inspect(path: Path, as_json: bool) -> None:
    """Show a bundle's models, base model and settings."""
    from edgekit.bundle.inspect import inspect_bundle

    inspect_bundle(path, _console(), as_json=as_json)


@cli.command()
@click.argument("bundle_dir", type=click.Path(exists=True, path_type=Path))
@click.argument("prompt", required=False)
@click.option(
    "--threads",
    type=int,
    default=None,
    help="llama.cpp threads (default: chosen for this machine; EDGEKIT_THREADS overrides).",
)
@click.option("--max-tokens", type=int, default=None, help="Override the bundle's max_tokens.")
@click.option("--temperature", type=float, default=None, help="Override the bundle's temperature.")
@click.option(
    "--quant", default=None, help="Which GGUF type in the bundle to load (default: its first)."
)
@click.option("--no-kb", is_flag=True, help="Do not use the bundle's knowledge base.")
@click.option(
    "--full-verify",
    is_flag=True,
    help="Rehash every file, ignoring the cache of large files' hashes.",
)
@click.option(
    "--pubkey",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="EDGEKIT_PUBKEY",
    help="Also require a valid signature by this Ed25519 public key ($EDGEKIT_PUBKEY).",
)
def chat(
    bundle_dir: Path,
    prompt: str | None,
    threads: int | None,
    max_tokens: int | None,
    temperature: float | None,
    quant: str | None,
    no_kb: bool,
    full_verify: bool,
    pubkey: Path | None,
) -> None:
    """Chat with a bundle (one question or interactive).

    With PROMPT: answer once and exit; without: interactive loop.

    The bundle is verified (every sha256) before the model is loaded; the adapter made
    active by `edgekit adapter import` (if any) is applied.
    """
    from edgekit.bundle.site_adapters import AdapterStore
    from edgekit.runtime.bundle import open_bundle
    from edgekit.runtime.chat import ChatSession, load_model

    err = _console(stderr=True)
    with err.status("verifying bundle …"):
        site = open_bundle(bundle_dir, full_verify=full_verify, pubkey=pubkey)
        version, lora = AdapterStore(site.root).active_gguf(pubkey)
    label = site.model_path(quant).name + (f" + adapter {version}" if version else "")
    with err.status(f"loading {label} …"):
        llm = load_model(site, threads=threads, qtype=quant, lora_path=lora)
    kb = None
    if not no_kb:
        from edgekit.runtime.knowledge import has_kb, open_kb

        if has_kb(site):
            with err.status("opening knowledge base …"):
                kb = open_kb(site)
    session = ChatSession(site, llm, max_tokens=max_tokens, temperature=temperature, kb=kb)

    def answer(question: str) -> None:
        for piece in session.ask(question):
            click.echo(piece, nl=False)
            sys.stdout.flush()
        click.echo()
        if session.last_citations:
            click.echo("\nSources:")
            for line in session.last_citations:
                click.echo(f"  {line}")

    if prompt is not None:
        answer(prompt)
        return
    err.print(f"[bold]{site.name}[/] — type a question, Ctrl-D or /exit to leave")
    while True:
        try:
            question = input("> ").strip()
        except EOFError:
            break
        if question in ("/exit", "/quit"):
            break
        if question:
            answer(question)


def _register_groups() -> None:
    from edgekit import cli_adapter
    from edgekit.cli_kb import kb
    from edgekit.cli_qa import eval_qa
    from edgekit.cli_quality import register as register_quality
    from edgekit.cli_report import register as register_report
    from edgekit.cli_serve import apikey, audit, doctor, install, serve
    from edgekit.cli_train import adapter, data, eval_group, train

    cli.add_command(kb)
    cli.add_command(data)
    cli.add_command(train)
    cli.add_command(eval_group)
    cli.add_command(serve)
    cli.add_command(apikey)
    cli.add_command(audit)
    cli.add_command(doctor)
    cli.add_command(install)
    cli_adapter.register(adapter)
    cli.add_command(adapter)
    register_report(cli)
    register_quality(eval_group)
    eval_group.add_command(eval_qa)


_register_groups()


def main() -> None:
    cli(prog_name="edgekit")


if __name__ == "__main__":
    main()
