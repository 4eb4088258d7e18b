"""`edgekit eval forgetting|behaviour|quant|qa`: what tuning and quantization changed, and
how well a bundle answers."""

from __future__ import annotations

import click

from edgekit.cli.common import _Group
from edgekit.cli.eval_behaviour import eval_behaviour
from edgekit.cli.eval_forgetting import eval_forgetting
from edgekit.cli.qa import eval_qa
from edgekit.cli.quality import eval_quant


@click.group(cls=_Group, short_help="Evaluate what tuning changed.", name="eval")
def eval_group() -> None:
    """Evaluations."""


for _command in (eval_forgetting, eval_behaviour, eval_quant, eval_qa):
    eval_group.add_command(_command)
