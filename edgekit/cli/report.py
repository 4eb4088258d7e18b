"""`edgekit bundle report`: the path of a bundle's HTML report, or render it again."""

from __future__ import annotations

from pathlib import Path

import click

from edgekit.cli.common import bundle_argument


@click.command("report", short_help="Path of the bundle's HTML report (or --render it).")
@bundle_argument
@click.option(
    "--render", is_flag=True, help="Render report/index.html again (e.g. after an upgrade)."
)
def bundle_report(bundle_dir: Path, render: bool) -> None:
    """Print the path of BUNDLE's report (report/index.html); open it in any browser."""
    from edgekit.bundle import manifest as mf

    if render:
        from edgekit.bundle.amend import RESIGN, rerender_report

        saved = rerender_report(bundle_dir)
        if saved.changed:
            click.echo(f"re-rendered {mf.REPORT_INDEX}", err=True)
        if saved.signature_removed:
            click.secho(f"note: {RESIGN}", fg="yellow", err=True)
    index = (bundle_dir / mf.REPORT_INDEX).resolve()
    if not index.is_file():
        from edgekit.errors import BundleError

        raise BundleError(f"{bundle_dir} has no {mf.REPORT_INDEX}; add it with --render")
    click.echo(index)
