"""Input checks that must hold under `python -O`, which strips every `assert`: library code
refuses bad input with explicit checks (ruff's S101 keeps asserts out of it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

# Runs under `python -O`: reads one replay file per argument, prints what happened to each.
REPLAY_UNDER_O = """
import json, sys
from pathlib import Path
from edgekit.data.build import _user_replay
from edgekit.errors import EdgekitError
if __debug__:
    sys.exit("not running under python -O")
out = {}
for arg in sys.argv[1:]:
    try:
        out[arg] = f"accepted {len(_user_replay(Path(arg)))}"
    except EdgekitError as exc:
        out[arg] = f"refused: {exc}"
print(json.dumps(out))
"""


def test_user_replay_lines_are_checked_under_python_O(tmp_path: Path):
    bad = {
        "empty-list": '{"messages": []}',
        "no-content": '{"messages": [{"role": "user"}]}',
        "string": '{"messages": "hello"}',
        "not-dicts": '{"messages": [["role", "content"]]}',
        "dict": '{"messages": {"role": "user", "content": "hi"}}',
        "no-messages": '{"prompt": "hi"}',
        "list": '[{"role": "user", "content": "hi"}]',
        "not-json": "role: user",
    }
    turns = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
    good = json.dumps({"messages": turns})
    files = []
    for name, line in {**bad, "good": good}.items():
        path = tmp_path / f"{name}.jsonl"
        path.write_text(f"{good}\n{line}\n")  # line 2 is the one under test
        files.append(str(path))
    proc = subprocess.run(
        [sys.executable, "-O", "-c", REPLAY_UNDER_O, *files],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    for name in bad:
        got = result[str(tmp_path / f"{name}.jsonl")]
        assert got.startswith("refused: ") and f"{name}.jsonl:2: expected" in got, (name, got)
    assert result[str(tmp_path / "good.jsonl")] == "accepted 2"
