"""Pieces shared by the CLI modules: error handling, consoles, and the options and arguments
several commands take (defined once here)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from edgekit.errors import EdgekitError

if TYPE_CHECKING:
    from edgekit.config import LoadedConfig
    from edgekit.config.layout import TrainingLayout


class _Group(click.Group):
    """Turns library errors into a red message and the error's exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EdgekitError as exc:
            click.secho(f"error: {exc}", err=True, fg="red")
            ctx.exit(exc.exit_code)


def _console(stderr: bool = False) -> Any:
    """A rich console on stdout, or on edgekit's terminal stream (stderr, or the real
    terminal while a build sends third-party output to its log)."""
    from rich.console import Console

    from edgekit import terminal

    return Console(file=terminal.stream()) if stderr else Console()


def progress_bar(label: str) -> Any:
    """A progress callback ``update(done, total, what="")`` that draws a rich bar on first
    use and removes it when done (for long steps reported from library code)."""
    from rich.progress import Progress

    console = _console(stderr=True)
    bar = Progress(transient=True, console=console, disable=not console.is_terminal)
    task = bar.add_task(label, total=None)

    def update(done: int, total: int, what: str = "") -> None:
        if not bar.live.is_started:
            bar.start()
        bar.update(task, completed=done, total=total, description=f"{label} {what}".strip())
        if done >= total:
            bar.stop()

    return update


def pubkey_option(help: str) -> Callable[[Any], Any]:
    """``--pubkey`` (or $EDGEKIT_PUBKEY): a trusted Ed25519 public key file."""
    return click.option(
        "--pubkey",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        envvar="EDGEKIT_PUBKEY",
        help=help,
    )


def threads_option(help: str = "llama.cpp threads (default: chosen for this machine).") -> Any:
    """``--threads``: CPU threads (None: the command's own choice)."""
    return click.option("--threads", type=int, default=None, help=help)


def json_option(help: str = "Print the result as JSON.") -> Any:
    """``--json`` (``as_json``): machine-readable output, one JSON document."""
    return click.option("--json", "as_json", is_flag=True, help=help)


config_argument = click.argument(
    "config", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
bundle_argument = click.argument(
    "bundle_dir", type=click.Path(exists=True, file_okay=False, path_type=Path)
)


def training_paths(config: Path) -> tuple[LoadedConfig, TrainingLayout]:
    """The loaded CONFIG and its main training run's folders."""
    from edgekit.config import load_config
    from edgekit.config.layout import WorkLayout

    loaded = load_config(config)
    return loaded, WorkLayout.of(loaded).main_training
