"""`edgekit audit verify`: check an audit log written by `edgekit serve`."""

from __future__ import annotations

from pathlib import Path

import click

from edgekit.cli.common import _Group
from edgekit.errors import EdgekitError


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
    from edgekit.runtime.site.audit_verify import verify_log

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
