"""Forgetting with and without self-replay, on an example project (default: mine-safety).

Builds the data once, trains the example's LoRA SFT twice — with the configured self-replay
and with `general: none` — and prints the forgetting table for both side by side: domain and
general perplexity of base vs tuned and KL(base||tuned). The baseline is the base model.
`--json` prints one JSON object with every figure as the last line.

    .venv/bin/python bench/forgetting.py [CONFIG] [--json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(config: Path, replay: bool, work: Path) -> dict[str, object]:
    from edgekit.config import load_config
    from edgekit.data.build import build_data
    from edgekit.models import prepare_model
    from edgekit.train.forgetting import evaluate_forgetting
    from edgekit.train.trainer import train

    project = work / ("replay" if replay else "no-replay")
    shutil.copytree(config.parent, project, ignore=shutil.ignore_patterns("dist", ".edgekit"))
    cfg_path = project / config.name
    text = cfg_path.read_text()
    if not replay:
        text = text.replace("general: self-replay", "general: none")
    cfg_path.write_text(text)
    loaded = load_config(cfg_path)
    base = prepare_model(loaded.config.model.base)
    data = work / "data"  # the same held-out splits for both runs
    if not (data / "train.jsonl").is_file():
        build_data(loaded, data)
    run_data = project / "data"
    shutil.copytree(data, run_data)
    if not replay:  # drop the replay rows from training, keep the held-out general split
        rows = [
            x
            for x in (run_data / "train.jsonl").read_text().splitlines()
            if '"rule": "replay"' not in x
        ]
        (run_data / "train.jsonl").write_text("\n".join(rows) + "\n")
    result = train(loaded, run_data, project / "train", base)
    table = evaluate_forgetting(base, result.output, run_data)
    table["tokens_per_s"] = result.tokens_per_s
    table["steps"] = result.steps
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "config", nargs="?", type=Path, default=REPO / "examples" / "mine-safety" / "edgekit.yaml"
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = {
            name: run(args.config.resolve(), name == "replay", Path(tmp))
            for name in ("replay", "no-replay")
        }
    print(
        f"{'run':<11}{'domain PPL base->tuned':>24}{'ratio':>7}"
        f"{'general PPL base->tuned':>25}{'ratio':>7}{'KL':>8}"
    )
    for name, r in results.items():
        d, g = r["domain"], r["general"]  # type: ignore[index]
        print(
            f"{name:<11}{d['base_ppl']:>12.2f} -> {d['tuned_ppl']:<8.2f}{d['ratio']:>7.3f}"
            f"{g['base_ppl']:>13.2f} -> {g['tuned_ppl']:<8.2f}{g['ratio']:>7.3f}"
            f"{r['kl_base_tuned_general']:>8.4f}"
        )
    print("goal: domain ratio <= 0.80 and general ratio <= 1.05 with replay")
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
