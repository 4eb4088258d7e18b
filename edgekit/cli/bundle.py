"""`edgekit bundle verify|sign|inspect|report` and `edgekit keygen`."""

from __future__ import annotations

from pathlib import Path

import click

from edgekit.cli.common import _console, _Group, json_option, pubkey_option
from edgekit.cli.report import bundle_report
from edgekit.errors import EdgekitError


@click.group(cls=_Group)
def bundle() -> None:
    """Verify, sign and inspect bundles."""


@bundle.command("verify")
@click.argument("path", type=click.Path(path_type=Path))
@pubkey_option("Also check the Ed25519 signature with this public key.")
def bundle_verify(path: Path, pubkey: Path | None) -> None:
    """Check every file against the manifest.

    Recomputes each sha256; reports changed, missing or extra files (exit 1).
    """
    from edgekit.bundle.verify import verify

    report = verify(path, pubkey=pubkey)
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


@click.command(short_help="Create an Ed25519 key pair for signing bundles.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
def keygen(out: Path) -> None:
    """Write OUT/edgekit.key (private, mode 0600) and OUT/edgekit.pub."""
    from edgekit.bundle.signing import keygen as make_keys

    priv, pub = make_keys(out)
    click.echo(f"private key: {priv}  (keep it off the site)\npublic key:  {pub}")


@bundle.command("inspect")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@json_option("Print the manifest as JSON.")
def bundle_inspect(path: Path, as_json: bool) -> None:
    """Show a bundle's models, base model and settings."""
    from edgekit.bundle.inspect import inspect_bundle

    inspect_bundle(path, _console(), as_json=as_json)


bundle.add_command(bundle_report)
