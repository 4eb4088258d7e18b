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


def test_pool_offloads_all_layers_and_generates(tiny_project):
    from edgekit.runtime.bundle import open_bundle
    from edgekit.runtime.pool import ModelPool, PoolPlan, gpu_available

    _, result = tiny_project
    site = open_bundle(result.bundle)
    assert gpu_available()
    pool = ModelPool(str(site.model_path()), 512, PoolPlan(1, 4))
    assert pool.gpu_layers == -1
    with pool.acquire(5) as llm:
        out = llm.create_completion("Hello", max_tokens=8, temperature=0)
    assert out["usage"]["completion_tokens"] > 0
