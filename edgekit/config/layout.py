"""Where a build keeps its work: `<config folder>/.edgekit/<name>/`. Every stage asks this
layout for its folders and files; no module spells them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

TRAIN_FILE = "train.jsonl"  # the training split in a data folder
FORGETTING_FILE = "forgetting.json"
ADAPTER_DIR, FULL_DIR = "adapter", "model"  # what a LoRA / a full fine-tune writes


@dataclass(frozen=True)
class TrainingLayout:
    """One training run's folders: the main run, or one expert's."""

    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def train(self) -> Path:
        return self.root / "train"

    @property
    def forgetting(self) -> Path:
        return self.root / FORGETTING_FILE

    def output(self, method: str) -> Path:
        """The trained adapter (lora) or model (full)."""
        return self.train / (ADAPTER_DIR if method == "lora" else FULL_DIR)


@dataclass(frozen=True)
class WorkLayout:
    root: Path

    @classmethod
    def of(cls, loaded: Any) -> WorkLayout:
        """The layout of a loaded config (edgekit.config.LoadedConfig)."""
        return cls(loaded.root / ".edgekit" / loaded.config.name)

    @property
    def output_log(self) -> Path:
        """What libraries printed during builds (banners, warnings, their progress bars)."""
        return self.root / "build-output.log"

    @property
    def qa_set(self) -> Path:
        return self.root / "qa" / "qa.jsonl"

    @property
    def kb(self) -> Path:
        return self.root / "kb"

    @property
    def kb_report(self) -> Path:
        return self.root / "kb-report.json"

    @property
    def training(self) -> Path:
        return self.root / "training"

    @property
    def main_training(self) -> TrainingLayout:
        return TrainingLayout(self.training / "main")

    def expert_training(self, name: str) -> TrainingLayout:
        return TrainingLayout(self.training / "experts" / name)

    @property
    def gate(self) -> Path:
        return self.root / "gate"

    @property
    def merged(self) -> Path:
        return self.root / "merged"

    @property
    def gguf(self) -> Path:
        return self.root / "gguf"

    @property
    def quant(self) -> Path:
        return self.root / "quant"

    @property
    def gptq(self) -> Path:
        return self.root / "gptq"

    @property
    def wheelhouse(self) -> Path:
        return self.root / "wheelhouse"

    @property
    def behaviour_domain(self) -> Path:
        return self.root / "eval" / "domain.jsonl"
