"""`edgekit apikey add|list|revoke`: API keys for `edgekit serve`."""

from __future__ import annotations

from pathlib import Path

import click

from edgekit.cli.common import _Group


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
    from edgekit.runtime.serve.auth import add_key

    record, key = add_key(bundle, role, name)
    click.echo(key)
    click.echo(f"id {record.id}, role {record.role}: store it now, it is not shown again", err=True)


@apikey.command("list")
@click.option(
    "--bundle", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path)
)
def apikey_list(bundle: Path) -> None:
    """List keys (id, role, name, created, revoked)."""
    from edgekit.runtime.serve.auth import list_keys

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
    from edgekit.runtime.serve.auth import revoke_key

    revoke_key(bundle, key_id)
    click.echo(f"revoked {key_id}")
