"""`edgekit chat BUNDLE [PROMPT]`: one answer, or an interactive loop, on this machine."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from edgekit.cli.common import _console, pubkey_option, threads_option


@click.command()
@click.argument("bundle_dir", type=click.Path(exists=True, path_type=Path))
@click.argument("prompt", required=False)
@threads_option("llama.cpp threads (default: chosen for this machine; EDGEKIT_THREADS overrides).")
@click.option("--max-tokens", type=int, default=None, help="Override the bundle's max_tokens.")
@click.option("--temperature", type=float, default=None, help="Override the bundle's temperature.")
@click.option(
    "--quant", default=None, help="Which GGUF type in the bundle to load (default: its first)."
)
@click.option("--no-kb", is_flag=True, help="Do not use the bundle's knowledge base.")
@click.option(
    "--adapter",
    default=None,
    metavar="NAME",
    help="Answer with this expert adapter of the bundle ('base': none). Default: as `serve` "
    "routes, the expert whose documents hold the best excerpt, else the main model.",
)
@click.option(
    "--config-settings",
    is_flag=True,
    help="Answer with the config's retrieval/prompt settings, not the ones the build chose "
    "on the QA dev split (to compare the two; `serve --config-settings` does the same).",
)
@click.option(
    "--full-verify",
    is_flag=True,
    help="Rehash every file, ignoring the cache of large files' hashes.",
)
@pubkey_option("Also require a valid signature by this Ed25519 public key ($EDGEKIT_PUBKEY).")
def chat(
    bundle_dir: Path,
    prompt: str | None,
    threads: int | None,
    max_tokens: int | None,
    temperature: float | None,
    quant: str | None,
    no_kb: bool,
    adapter: str | None,
    config_settings: bool,
    full_verify: bool,
    pubkey: Path | None,
) -> None:
    """Chat with a bundle (one question or interactive).

    With PROMPT: answer once and exit; without: interactive loop. An `extract` or
    `quote` answer starts with its answer span, then quotes the sentence with the span in
    bold (ANSI on a terminal; the markdown `**` marks when the output is not a terminal).

    The bundle is verified (every sha256) before the model is loaded; the adapter made
    active by `edgekit adapter import` (if any) is applied.
    """
    from edgekit.bundle.answer_settings import AnswerSettings
    from edgekit.runtime.answer.request import Refused
    from edgekit.runtime.answer.session import ChatSession, load_model
    from edgekit.runtime.site.adapter_store import AdapterStore
    from edgekit.runtime.site.verified import open_bundle

    err = _console(stderr=True)
    with err.status("verifying bundle …"):
        site = open_bundle(bundle_dir, full_verify=full_verify, pubkey=pubkey)
        version, lora = AdapterStore(site.root).active_gguf(pubkey)
    label = site.model_path(quant).name + (f" + adapter {version}" if version else "")
    with err.status(f"loading {label} …"):
        llm = load_model(site, threads=threads, qtype=quant, lora_path=lora)
    kb = None
    if not no_kb:
        from edgekit.runtime.answer.knowledge import has_kb, open_kb

        if has_kb(site):
            with err.status("opening knowledge base …"):
                kb = open_kb(site)

    def load_expert(gguf: Path) -> Any:
        with err.status(f"loading expert adapter {gguf.name} …"):
            return load_model(site, threads=threads, qtype=quant, lora_path=gguf)

    session = ChatSession(
        site,
        llm,
        settings=AnswerSettings.from_manifest(site.manifest, chosen=not config_settings),
        max_tokens=max_tokens,
        temperature=temperature,
        kb=kb,
        adapter=adapter,
        load_expert=load_expert,
    )

    if prompt is not None:
        _answer(session, prompt, err)
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
            try:
                _answer(session, question, err)
            except Refused as exc:  # e.g. over the prompt limit: the session goes on
                err.print(f"[red]{exc.message}[/]")


def _answer(session: Any, question: str, err: Any) -> None:
    """Print one answer as it streams (the answer span bold on a terminal), its sources,
    and on stderr the expert adapter that answered."""
    from edgekit.runtime.answer.session import BoldMarks

    marks = BoldMarks(sys.stdout.isatty())
    for piece in session.ask(question):
        click.echo(marks.feed(piece), nl=False)
        sys.stdout.flush()
    click.echo(marks.close())
    if session.last_citations:
        click.echo("\nSources:")
        for line in session.last_citations:
            click.echo(f"  {line}")
    if session.last_adapter:
        err.print(f"[dim]answered by expert adapter {session.last_adapter}[/]")
