"""The serving engine: one model, lanes of continuous batching over it.

`EngineModel` loads the GGUF once; each `Lane` is a context with N sequence slots and one
adapter set, run by its own thread. `edgekit serve` keeps one lane for the active site
adapter (a hot swap starts a new lane beside it and retires the old one) and one small
lane per expert adapter, all over the same weights.
"""

from edgekit.runtime.engine.jobs import Handle, LaneClosed, QueueFull
from edgekit.runtime.engine.lane import Lane, LanePlan, gpu_available, plan_lane
from edgekit.runtime.engine.model import EngineModel
from edgekit.runtime.engine.sampling import SamplingSpec

__all__ = [
    "EngineModel",
    "Handle",
    "Lane",
    "LaneClosed",
    "LanePlan",
    "QueueFull",
    "SamplingSpec",
    "gpu_available",
    "plan_lane",
]
