"""`edgekit install`: install a bundle .tar on a site server, offline."""

from __future__ import annotations

from pathlib import Path

import click

from edgekit.cli.common import pubkey_option
from edgekit.runtime.serve.settings import DEFAULT_HOST, DEFAULT_INSTALL_ROOT, DEFAULT_PORT


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
    from edgekit.runtime.serve.install import install_bundle

    done = install_bundle(tar, root, pubkey, host, port, user, systemd, reuse_python)
    click.echo(f"installed {done.release} (was {done.previous or 'nothing'})")
    click.echo(f"  bundle: {done.bundle}")
    click.echo(f"  venv:   {done.venv}")
    click.echo(f"  unit:   {done.unit}" + ("  (installed)" if systemd else ""))
    click.echo(f"  audit key: {done.audit_key} (keep it: `edgekit audit verify` needs it)")
