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


def progress_bar(label: str) -> Any:
    """A progress callback ``update(done, total, what="")`` that draws a rich bar on first
    use and removes it when done (for long steps reported from library code)."""
    from rich.progress import Progress

    bar = Progress(transient=True, console=_console(stderr=True))
    task = bar.add_task(label, total=None)

    def update(done: int, total: int, what: str = "") -> None:
        if not bar.live.is_started:
            bar.start()
        bar.update(task, completed=done, total=total, description=f"{label} {what}".strip())
        if done >= total:
            bar.stop()

    return update
