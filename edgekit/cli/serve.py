"""`edgekit serve`, `edgekit apikey ...`, `edgekit audit verify`."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from edgekit.cli.common import _Group, pubkey_option, threads_option
from edgekit.errors import EdgekitError
from edgekit.runtime.serve_settings import (
    DEFAULT_HOST,
    DEFAULT_INSTALL_ROOT,
    DEFAULT_PORT,
    ServeSettings,
)
from edgekit.runtime.serve_settings import DEFAULTS as SERVE


@click.command(short_help="OpenAI-compatible server + web chat for a bundle.")
@click.argument("bundle", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--host",
    default=DEFAULT_HOST,
    show_default=True,
    help="Interface to bind. Loopback by default; 0.0.0.0 is an explicit choice.",
)
@click.option("--port", default=DEFAULT_PORT, show_default=True)
@click.option("--no-auth", is_flag=True, help="Serve without API keys (prints a warning).")
@click.option(
    "--slots",
    "--instances",
    "slots",
    type=int,
    default=None,
    help="Requests generated at once, batched into each llama.cpp step over one copy of "
    "the weights (default: 4 per physical core, at least 4, at most 16).",
)
@threads_option(
    "llama.cpp threads (default: the physical cores, as llama-server; EDGEKIT_THREADS)."
)
@click.option(
    "--gpu-layers",
    type=int,
    default=None,
    help="Layers on the GPU (default: all when llama.cpp has CUDA, else 0).",
)
@click.option(
    "--max-queue",
    default=SERVE.max_queue,
    show_default=True,
    help="Requests that may wait for a free slot before 503.",
)
@click.option("--max-output-tokens", default=SERVE.max_output_tokens, show_default=True)
@click.option(
    "--max-prompt-tokens", type=int, default=None, help="Default: the context window minus 256."
)
@click.option(
    "--timeout",
    "request_timeout",
    default=SERVE.request_timeout,
    show_default=True,
    help="Seconds one answer may take.",
)
@click.option(
    "--audit-log",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Default: <bundle>.audit.jsonl next to the bundle.",
)
@click.option(
    "--audit-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Secret key of the audit log's keyed hashes. Default: <audit log>.key if it "
    "exists, else audit.key of the `edgekit install` root, else <audit log>.key, created "
    "(mode 0600) on first start.",
)
@click.option(
    "--audit-text",
    is_flag=True,
    help="Also record each question and answer text in the audit log. Default: metadata "
    "only (key id, model, chunk ids, document hashes, sha256 of prompt and answer).",
)
@click.option(
    "--full-verify",
    is_flag=True,
    help="Rehash every file at start, ignoring the cache of large files' hashes.",
)
@pubkey_option(
    "Require a valid signature by this Ed25519 public key ($EDGEKIT_PUBKEY), for the "
    "bundle and for imported adapters."
)
@click.option(
    "--adapter-poll",
    default=SERVE.adapter_poll,
    show_default=True,
    help="Seconds between checks for an adapter switch (edgekit adapter import/rollback); "
    "0 turns hot swap off.",
)
@click.option(
    "--config-settings",
    is_flag=True,
    help="Answer with the config's retrieval/prompt settings, not the ones the build chose "
    "on the QA dev split (to compare the two).",
)
@click.option(
    "--fast-attention",
    is_flag=True,
    help="llama.cpp's tiled attention kernels, as llama-server runs them: faster on long "
    "prompts, but on CPU an answer may then change with what else is in the batch, so the "
    "same question can get another answer (no exact replay of an audited answer). Off by "
    "default; always on with a GPU.",
)
@click.option(
    "--engine",
    default=None,
    metavar="URL[,URL...]",
    help="Generate on OpenAI-compatible servers you already run (vLLM, llama-server, "
    "SGLang) instead of in this process: retrieval, citations, rules, keys, limits, metrics "
    "and the audit log stay here. Several URLs: least-busy with health checks; a request "
    "that has not streamed yet moves to another upstream when one fails. Upstreams must "
    "serve this bundle's model (`edgekit bundle recipe`). Bearer key: $EDGEKIT_ENGINE_KEY.",
)
def serve(
    bundle: Path,
    host: str,
    port: int,
    no_auth: bool,
    slots: int | None,
    threads: int | None,
    gpu_layers: int | None,
    max_queue: int,
    max_output_tokens: int,
    max_prompt_tokens: int | None,
    request_timeout: float,
    audit_log: Path | None,
    audit_key: Path | None,
    audit_text: bool,
    full_verify: bool,
    pubkey: Path | None,
    adapter_poll: float,
    config_settings: bool,
    fast_attention: bool,
    engine: str | None,
) -> None:
    """Serve BUNDLE: /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/models,
    /metrics, /health, /ready and a web chat at /. The bundle is verified first."""
    import uvicorn

    from edgekit.runtime.server import create_app

    if no_auth:
        click.secho(
            "WARNING: --no-auth: anyone who can reach this port can use the model",
            fg="yellow",
            err=True,
        )
    if engine is not None:
        from edgekit.runtime.engine.upstream import parse_urls

        try:
            parse_urls(engine)
        except ValueError as exc:
            raise EdgekitError(str(exc)) from None
    settings = ServeSettings(
        bundle,
        no_auth=no_auth,
        slots=slots,
        threads=threads,
        gpu_layers=gpu_layers,
        max_queue=max_queue,
        max_output_tokens=max_output_tokens,
        max_prompt_tokens=max_prompt_tokens,
        request_timeout=request_timeout,
        audit_log=audit_log,
        audit_key=audit_key,
        audit_text=audit_text,
        full_verify=full_verify,
        pubkey=pubkey,
        adapter_poll=adapter_poll,
        config_settings=config_settings,
        fast_attention=fast_attention,
        engine=engine,
        engine_key=os.environ.get("EDGEKIT_ENGINE_KEY") or None,
    )
    app = create_app(settings)
    srv = app.state.server
    click.echo(f"serving {srv.model_id} on http://{host}:{port}  ({_engine_line(srv)})", err=True)
    # the engine thread takes the GIL back after every llama_decode; the default 5 ms
    # switch interval would make it wait behind the HTTP thread for up to a token's time
    sys.setswitchinterval(float(os.environ.get("EDGEKIT_SWITCH_INTERVAL", "0.0005")))
    uvicorn.run(app, host=host, port=port, log_level="warning")


def _engine_line(srv: Any) -> str:
    """What generates the answers, for the start line."""
    kb = f"kb {'on' if srv.kb else 'off'}"
    if srv.settings.engine is not None:
        ups = ", ".join(f"{u['url']} ({'up' if u['up'] else 'down'})" for u in srv.lane.status())
        return f"generation on {ups}, {kb}"
    fast = ", fast attention" if srv.settings.fast_attention else ""
    return (
        f"{srv.plan.slots} slot(s), {srv.plan.threads} thread(s), gpu layers "
        f"{srv.model.gpu_layers}, {kb}, {srv.lane.label}{fast}"
    )


@click.group(cls=_Group, short_help="Create, list and revoke API keys.")
def apikey() -> None:
    """API keys for `edgekit serve` (stored hashed next to the bundle)."""


@apikey.command("add")
@click.option(
    "--bundle", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.option("--role", type=click.Choice(["user", "admin"]), default="user", show_default=True)
@click.option("--name", default="", help="A label, e.g. who holds the key.")
def apikey_add(bundle: Path, role: str, name: str) -> None:
    """Create a key and print it once (only its hash is stored)."""
    from edgekit.runtime.auth import add_key

    record, key = add_key(bundle, role, name)
    click.echo(key)
    click.echo(f"id {record.id}, role {record.role}: store it now, it is not shown again", err=True)


@apikey.command("list")
@click.option(
    "--bundle", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path)
)
def apikey_list(bundle: Path) -> None:
    """List keys (id, role, name, created, revoked)."""
    from edgekit.runtime.auth import list_keys

    for k in list_keys(bundle):
        click.echo(
            f"{k.id}  {k.role:<5}  {'REVOKED' if k.revoked else 'active ':<7}  "
            f"{k.created}  {k.name}"
        )


@apikey.command("revoke")
@click.option(
    "--bundle", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.argument("key_id")
def apikey_revoke(bundle: Path, key_id: str) -> None:
    """Revoke a key by id; a running server refuses it from the next request on."""
    from edgekit.runtime.auth import revoke_key

    revoke_key(bundle, key_id)
    click.echo(f"revoked {key_id}")


@click.group(cls=_Group, short_help="Verify keyed, hash-chained audit logs.")
def audit() -> None:
    """Audit logs written by `edgekit serve`."""


@audit.command("verify")
@click.argument("log", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The log's audit key. Default: LOG.key if it exists, else audit.key of the "
    "`edgekit install` root LOG lies under.",
)
def audit_verify(log: Path, key: Path | None) -> None:
    """Check every line's hash, keyed hash and link, and the head record LOG.head (lines
    cut off the end); name each edited, missing or torn line. Exit 1 on any problem,
    including a wrong or missing key and an unkeyed (legacy) log."""
    from edgekit.runtime.audit_verify import verify_log

    report = verify_log(log, key)
    for note in report.notes:
        click.echo(f"NOTE {note}")
    for problem in report.problems:
        click.secho(f"FAIL {problem}", fg="red")
    if not report.ok:
        raise EdgekitError(f"{log}: audit log not verified ({len(report.problems)} problem(s))")
    click.echo(
        f"OK {log}: {report.lines} lines, chain intact, keyed hashes and head record match "
        f"{report.key_path}"
    )


@click.command(short_help="Check this machine; prove the bundle runs with no egress.")
@click.argument("bundle", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--json",
    "as_json",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the report as JSON here.",
)
def doctor(bundle: Path, as_json: Path | None) -> None:
    """Versions, CPU features, threads, GPU, disk; then a short chat and KB query with all
    outgoing connections blocked, recording any attempt. Exit 1 unless it passes."""
    from edgekit.fsutil import atomic_write_json
    from edgekit.runtime.doctor import format_report, run_doctor

    report = run_doctor(bundle)
    click.echo(format_report(report))
    if as_json:
        atomic_write_json(as_json, report)
    if report["result"] != "PASS":
        raise EdgekitError("doctor: the bundle did not pass (see the report above)")


@click.command("install", short_help="Install a bundle .tar on this site server (offline).")
@click.argument("tar", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_INSTALL_ROOT,
    show_default=True,
    help="Install root: releases/, current, trusted.pub, edgekit.service.",
)
@pubkey_option("Require a valid signature by this key; copied to ROOT/trusted.pub for serve.")
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="For the unit's serve.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, help="For the unit's serve.")
@click.option("--user", default=None, help="User the service runs as (default: you).")
@click.option("--systemd", is_flag=True, help="Also copy the unit to /etc/systemd/system/.")
@click.option(
    "--reuse-python",
    is_flag=True,
    help="No venv from the wheelhouse: run the release with the edgekit installed here.",
)
def install(
    tar: Path,
    root: Path,
    pubkey: Path | None,
    host: str,
    port: int,
    user: str | None,
    systemd: bool,
    reuse_python: bool,
) -> None:
    """Verify TAR (hashes + signature), unpack it to ROOT/releases/NAME-VERSION, create its
    venv from the bundle's wheelhouse (pip --no-index), switch ROOT/current to it
    atomically and write the systemd unit. Installing an older tar again switches back."""
    from edgekit.runtime.install import install_bundle

    done = install_bundle(tar, root, pubkey, host, port, user, systemd, reuse_python)
    click.echo(f"installed {done.release} (was {done.previous or 'nothing'})")
    click.echo(f"  bundle: {done.bundle}")
    click.echo(f"  venv:   {done.venv}")
    click.echo(f"  unit:   {done.unit}" + ("  (installed)" if systemd else ""))
    click.echo(f"  audit key: {done.audit_key} (keep it: `edgekit audit verify` needs it)")
