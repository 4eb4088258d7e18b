"""`edgekit adapter to-gguf|package|import|list|rollback`: convert a LoRA for llama.cpp, and
the periodic adapter update, HQ to site."""

from __future__ import annotations

from pathlib import Path

import click

from edgekit.cli.common import _console, _Group, bundle_argument, pubkey_option, threads_option
from edgekit.runtime.site.adapter_store import GATE_LIMIT, GATE_TOLERANCE, KEEP_VERSIONS


@click.command("package")
@click.argument("adapter_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--base", "base_spec", required=True, help="Model the adapter was trained on.")
@click.option(
    "--bundle-id", required=True, help="Name of the bundle it is for (its manifest `name`)."
)
@click.option(
    "--key",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Ed25519 private key to sign with (edgekit keygen).",
)
@click.option(
    "--eval",
    "eval_set",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSONL eval set the site gate scores the adapter on (chat records or prompt/answer).",
)
@click.option("--version", default=None, help="Version label (default: UTC timestamp).")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder to write the package into.",
)
def adapter_package(
    adapter_dir: Path,
    base_spec: str,
    bundle_id: str,
    key: Path,
    eval_set: Path,
    version: str | None,
    out: Path,
) -> None:
    """Make a small signed adapter package (GGUF LoRA + PEFT form + eval set) for a site."""
    from edgekit.pipeline.adapter_package import package_adapter

    with _console(stderr=True).status("converting and signing …"):
        tar = package_adapter(adapter_dir, base_spec, bundle_id, eval_set, key, out, version)
    click.echo(f"wrote {tar} ({tar.stat().st_size / 2**20:.2f} MiB)")


@click.command("import")
@bundle_argument
@click.argument("package", type=click.Path(exists=True, path_type=Path))
@pubkey_option("Trusted Ed25519 public key (or $EDGEKIT_PUBKEY). Required unless --unsigned.")
@click.option("--unsigned", is_flag=True, help="Accept a package without checking its signature.")
@click.option(
    "--tolerance",
    default=GATE_TOLERANCE,
    show_default=True,
    help="Largest allowed rise in answer perplexity vs the current adapter (0.05 = 5%).",
)
@click.option(
    "--keep", default=KEEP_VERSIONS, show_default=True, help="Installed versions to keep."
)
@click.option("--no-gate", is_flag=True, help="Skip the eval gate (not recommended).")
@threads_option("CPU threads for the gate.")
@click.option(
    "--limit", default=GATE_LIMIT, show_default=True, help="Items scored per eval set by the gate."
)
def adapter_import(
    bundle_dir: Path,
    package: Path,
    pubkey: Path | None,
    unsigned: bool,
    tolerance: float,
    keep: int,
    no_gate: bool,
    threads: int | None,
    limit: int,
) -> None:
    """Verify PACKAGE, gate it against the current adapter, install it and switch to it.

    A running `edgekit serve` on BUNDLE_DIR picks the new adapter up without a restart."""
    from edgekit.errors import BundleError
    from edgekit.runtime.site.adapter_store import import_adapter
    from edgekit.runtime.threads import default_threads

    if pubkey is None and not unsigned:
        raise BundleError("give --pubkey (the key HQ signs with) or, knowingly, --unsigned")
    with _console(stderr=True).status("verifying and running the eval gate …"):
        result = import_adapter(
            bundle_dir,
            package,
            pubkey,
            tolerance=tolerance,
            keep=keep,
            gate=not no_gate,
            threads=threads or default_threads(),
            limit=limit,
        )
    if result.gate is not None:
        click.echo(result.gate.table())
    if not result.accepted:
        raise BundleError(
            f"adapter {result.version} refused by the eval gate: answer perplexity rose by "
            f"more than {tolerance:.0%} on some eval set (table above); the current adapter "
            f"({result.previous or 'none'}) stays active"
        )
    click.echo(f"adapter {result.version} active (was {result.previous or 'none'})")
    if result.pruned:
        click.echo(f"removed old versions: {', '.join(result.pruned)}")


@click.command("list")
@bundle_argument
def adapter_list(bundle_dir: Path) -> None:
    """Installed adapter versions; * marks the active one."""
    from edgekit.runtime.site.adapter_store import AdapterStore

    store = AdapterStore(bundle_dir)
    items = store.installed()
    if not items:
        click.echo("no adapters installed (the bundle's own model is in use)")
        return
    for item in items:
        mark = "*" if item.active else " "
        click.echo(f"{mark} {item.version:<24} installed {item.installed}")
    if store.current() is None:
        click.echo("* base (no adapter) is active")


@click.command("rollback")
@bundle_argument
@click.argument("version", required=False)
def adapter_rollback(bundle_dir: Path, version: str | None) -> None:
    """Switch back to VERSION ('base' for no adapter), or to the previously active one."""
    from edgekit.runtime.site.adapter_store import AdapterStore

    active = AdapterStore(bundle_dir).rollback(version)
    click.echo(f"active adapter: {active or 'base (none)'}")


@click.command("to-gguf")
@click.argument("adapter_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--base", "base_spec", required=True, help="Base model spec the adapter was trained on."
)
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
def adapter_to_gguf(adapter_dir: Path, base_spec: str, out: Path) -> None:
    """Convert a PEFT LoRA adapter into a GGUF LoRA that llama.cpp loads with the base GGUF."""
    from edgekit.merge import check_adapter
    from edgekit.models import prepare_model
    from edgekit.quant.lora_gguf import peft_to_gguf

    base = prepare_model(base_spec)
    check_adapter(base, adapter_dir)
    path = peft_to_gguf(adapter_dir, base.path, out)
    click.echo(f"wrote {path} ({path.stat().st_size / 2**20:.2f} MiB)")


@click.group(cls=_Group, short_help="LoRA adapters: convert, package, import, roll back.")
def adapter() -> None:
    """LoRA adapters: convert for llama.cpp, ship a signed update, import it on site
    behind an eval gate, list and roll back versions."""


for _command in (adapter_to_gguf, adapter_package, adapter_import, adapter_list, adapter_rollback):
    adapter.add_command(_command)
