"""`edgekit doctor`: check this machine and prove a bundle runs with no egress."""

from __future__ import annotations

from pathlib import Path

import click

from edgekit.errors import EdgekitError


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
    from edgekit.runtime.serve.doctor import format_report, run_doctor

    report = run_doctor(bundle)
    click.echo(format_report(report))
    if as_json:
        atomic_write_json(as_json, report)
    if report["result"] != "PASS":
        raise EdgekitError("doctor: the bundle did not pass (see the report above)")
