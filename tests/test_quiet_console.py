"""`edgekit build` prints edgekit's own lines only; what libraries print goes to the log."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from conftest import run_cli

DOC = """# Ventilation

## Fans

The main fan must run at all times. Inspect the fan at the start of every shift.

## Methane

Methane above 1.0 percent requires removal of power. Workers withdraw at 1.5 percent.
"""

# every line edgekit itself prints during a build
OWN = re.compile(
    r"^(?:[✓•] [\w ()\[\].-]+ {2,}(?:done in [\d.]+s|skipped \(inputs unchanged\)).*"  # stages
    r"|[\w ()\[\].-]+ …"  # a stage that draws its own progress starts
    r"|bundle: \S+|archive: \S+)$"
)


@pytest.mark.slow
def test_build_prints_only_edgekits_own_lines(tmp_path: Path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "vent.md").write_text(DOC)
    config = tmp_path / "edgekit.yaml"
    config.write_text(
        "name: quiet\ndocs: docs\nmodel: {base: 'builtin:tiny-random'}\n"
        "data: {general: none, grounded: false, eval_fraction: 0.2, replay_ratio: 1.0,"
        " replay_max_tokens: 16}\n"
        "train: {enabled: true, precision: fp32, batch_size: 2, max_seq_len: 128,"
        " max_steps: 2, gate: false}\n"
        "eval: {qa: {enabled: false}}\n"
    )
    env = dict(os.environ, COLUMNS="200")  # one line per message, as on a wide terminal
    proc = run_cli("build", str(config), check=True, timeout=900, env=env)
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    foreign = [line for line in lines if not OWN.match(line)]
    assert not foreign, "lines not printed by edgekit:\n" + "\n".join(foreign)
    names = {line[2:].split("  ")[0].strip() for line in lines if line[:1] in "✓•"}
    assert {"prepare base", "train", "convert to GGUF", "package"} <= names
    # what the libraries printed (torch, transformers warnings here) is kept in the log
    assert (tmp_path / ".edgekit" / "quiet" / "build-output.log").is_file()
