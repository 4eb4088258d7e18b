"""Command-line options made from typed settings: one spelling per setting."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click
from click.testing import CliRunner

from edgekit.cli import cli
from edgekit.cli.options import options_from
from edgekit.runtime.serve.settings import DEFAULTS, ServeSettings, internal, option


@dataclasses.dataclass
class Demo:
    name: Path = dataclasses.field(metadata={"cli": False})
    workers: int | None = option(None, "How many workers.", "--workers", "-w")
    ratio: float = option(0.5, "A ratio.")
    loud: bool = option(False, "Say more.")
    log: Path | None = option(None, "A log file.", dir_okay=False)
    secret: str | None = internal(None)


@click.command()
@click.argument("name", type=click.Path(path_type=Path))
@options_from(Demo)
def demo(name: Path, **values: object) -> None:
    click.echo(repr(Demo(name, **values)))  # type: ignore[arg-type]


def test_options_carry_names_types_defaults_and_help():
    out = CliRunner().invoke(demo, ["x", "-w", "3", "--ratio", "2", "--loud", "--log", "a.txt"])
    assert out.exit_code == 0, out.output
    assert out.output.strip() == repr(
        Demo(Path("x"), workers=3, ratio=2.0, loud=True, log=Path("a.txt"))
    )
    defaults = CliRunner().invoke(demo, ["x"])
    assert defaults.output.strip() == repr(Demo(Path("x")))
    help_text = CliRunner().invoke(demo, ["--help"]).output
    assert "How many workers." in help_text and "--secret" not in help_text
    bad = CliRunner().invoke(demo, ["x", "--ratio", "lots"])
    assert bad.exit_code == 2 and "not a valid float" in bad.output


def test_every_serve_setting_has_its_option_with_its_default():
    help_text = " ".join(CliRunner().invoke(cli, ["serve", "--help"]).output.split())
    for f in dataclasses.fields(ServeSettings):
        if not f.metadata.get("cli", True):
            continue
        flag = (f.metadata.get("flags") or ("--" + f.name.replace("_", "-"),))[0]
        assert flag in help_text, flag
    assert f"[default: {DEFAULTS.max_queue}]" in help_text
    assert f"[default: {DEFAULTS.request_timeout}]" in help_text
