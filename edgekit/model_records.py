"""Names of the small JSON records edgekit writes next to models and adapters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: Written into every prepared or merged model directory.
MODEL_RECORD = "edgekit_model.json"
#: Written into every adapter directory edgekit trains (read by `edgekit merge`).
ADAPTER_RECORD = "edgekit_adapter.json"

# keys of MODEL_RECORD
M_SPEC = "spec"
M_SHA256 = "sha256"
M_SOURCE_SHA256 = "source_sha256"
M_RECIPE = "recipe_version"

# keys of ADAPTER_RECORD
A_BASE_SPEC = "base_model"
A_BASE_SHA256 = "base_sha256"


def read_record(path: Path) -> dict[str, Any] | None:
    """The JSON record at ``path``, or None when there is none."""
    if not path.is_file():
        return None
    return json.loads(path.read_text())
