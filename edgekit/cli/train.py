"""`edgekit train`: continued pretraining or SFT, LoRA or full."""

from __future__ import annotations

from pathlib import Path

import click

from edgekit.cli.common import config_argument, progress_bar, training_paths
from edgekit.config.layout import TRAIN_FILE


@click.command(short_help="Continued pretraining / SFT, LoRA or full.")
@config_argument
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Data folder from `edgekit data build` (default: work folder).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder (default: the build's work folder).",
)
@click.option("--resume", is_flag=True, help="Continue from the newest checkpoint in --out.")
def train(config: Path, data_dir: Path | None, out: Path | None, resume: bool) -> None:
    """Train CONFIG's `train:` stages on built data; writes an adapter (or model).

    Runs on one CPU or GPU as is; scale out with `accelerate launch -m edgekit train ...`.
    """
    from edgekit.data.build import build_data
    from edgekit.models import prepare_model
    from edgekit.train.device import process_state
    from edgekit.train.trainer import train as run_train

    loaded, work = training_paths(config)
    data_dir = data_dir or work.data
    state = process_state()
    # under `accelerate launch` every process runs this: rank 0 builds the data and
    # prepares the base model, the others then find both done
    with state.main_process_first():
        if not (data_dir / TRAIN_FILE).is_file():
            build_data(loaded, data_dir, progress=progress_bar("self-replay"))
        base = prepare_model(loaded.config.model.base)
    result = run_train(loaded, data_dir, out or work.train, base, resume=resume)
    if state.is_main_process:
        click.echo(
            f"{result.output}: {result.steps} steps, final loss {result.final_loss:.3f}, "
            f"{result.tokens_per_s:.0f} tokens/s; {state.num_processes} process(es); "
            f"log {result.log}"
        )
