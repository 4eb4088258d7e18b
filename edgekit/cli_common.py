"""Pieces shared by the CLI modules: error handling and consoles."""

from __future__ import annotations

from typing import Any

import click

from edgekit.errors import EdgekitError


class _Group(click.Group):
    """Turns library errors into a red message and the error's exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EdgekitError as exc:
            click.secho(f"error: {exc}", err=True, fg="red")
            ctx.exit(exc.exit_code)


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr)
