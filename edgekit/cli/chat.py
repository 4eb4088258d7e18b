"""`edgekit chat BUNDLE [PROMPT]`: one answer, or an interactive loop, on this machine."""

from __future__ import annotations

import sys
from pathlib import Path

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
    from edgekit.runtime.adapter_store import AdapterStore
    from edgekit.runtime.bundle import open_bundle
    from edgekit.runtime.chat import BoldMarks, ChatSession, load_model

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
        marks = BoldMarks(sys.stdout.isatty())  # the answer span: bold on a terminal
        for piece in session.ask(question):
            click.echo(marks.feed(piece), nl=False)
            sys.stdout.flush()
        click.echo(marks.close())
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
