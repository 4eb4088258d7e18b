"""GPU paths: run only where llama.cpp was built with CUDA and a GPU is present; CI skips."""

from __future__ import annotations

import pytest

llama_cpp = pytest.importorskip("llama_cpp")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        not llama_cpp.llama_supports_gpu_offload(),
        reason="llama.cpp built without GPU offload (CPU-only machine)",
    ),
]


def test_engine_offloads_all_layers_once_and_generates(tiny_project):
    from edgekit.runtime.engine import EngineModel, Lane, LanePlan, SamplingSpec, gpu_available
    from edgekit.runtime.site.verified import open_bundle

    _, result = tiny_project
    site = open_bundle(result.bundle)
    assert gpu_available()
    model = EngineModel(str(site.model_path()), gpu_layers=-1)
    lanes = [Lane(model, LanePlan(slots=4, threads=4, n_ctx=512)) for _ in range(2)]
    handles = [
        lane.submit(model.tokenize("Hello"), SamplingSpec(max_tokens=8, temperature=0))
        for lane in lanes
    ]
    for h in handles:
        events = list(h.events(timeout=60))
        assert events[-1][0] == "done" and events[-1][2] > 0
    for lane in lanes:
        lane.retire()
