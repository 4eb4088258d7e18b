"""The whole chain on the real example: data -> LoRA SFT with self-replay -> merge ->
quantize -> KB -> bundle -> answer. Slow (about 8 minutes on 2 cores); CI runs it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import REPO, run_cli
from edgekit.bundle import manifest as mf

pytestmark = pytest.mark.slow


def test_mine_safety_example_end_to_end(tmp_path: Path):
    project = tmp_path / "mine-safety"
    shutil.copytree(
        REPO / "examples" / "mine-safety",
        project,
        ignore=shutil.ignore_patterns("dist", ".edgekit"),
    )
    run_cli("build", str(project / "edgekit.yaml"), check=True, timeout=1800)
    bundle = project / "dist" / "mine-safety-0.1.0"
    manifest = json.loads((bundle / mf.MANIFEST_FILE).read_text())
    forgetting = manifest[mf.K_TRAINING][mf.K_FORGETTING]
    # tuning must help the domain a lot and cost little general ability (self-replay on)
    assert forgetting["domain"]["ratio"] <= 0.8, forgetting
    assert forgetting["general"]["ratio"] <= 1.05, forgetting
    card = manifest[mf.K_TRAINING][mf.K_DATA_CARD]
    assert card["train_replay"] > 0 and card["eval_general"] > 0
    assert {"report/forgetting.json", "report/loss.png", "report/data-card.png"} <= {
        f[mf.K_PATH] for f in manifest[mf.K_FILES]
    }
    answer = run_cli("chat", str(bundle), "How long does a self-rescuer last?", check=True)
    assert "30" in answer.stdout and "Sources:" in answer.stdout
    again = run_cli("build", str(project / "edgekit.yaml"), check=True)
    assert "done in" not in again.stderr  # every stage skipped: the adapter is reused
    # the same bundle behind `edgekit serve`, asked through the official openai client
    import openai
    from serving import RunningServer

    from edgekit.runtime.serve.auth import add_key

    _, key = add_key(bundle, "user")
    server = RunningServer(bundle)
    try:
        c = openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0)
        r = c.chat.completions.create(
            model="mine-safety-0.1.0",
            messages=[{"role": "user", "content": "How long does a self-rescuer last?"}],
        )
        assert "30" in r.choices[0].message.content
        assert r.model_extra["citations"][0]["source"].startswith("docs/")
    finally:
        server.stop()
