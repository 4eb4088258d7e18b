"""`create_completion` over a lane, for code written against llama-cpp-python's `Llama`
(the tool-call handler, `/v1/completions`): the request shares the lane's batches."""

from __future__ import annotations

import time
import uuid
from typing import Any

from edgekit.runtime.engine.lane import Lane
from edgekit.runtime.engine.sampling import SamplingSpec


class LaneCompletion:
    """Quacks like `llama_cpp.Llama` for non-streamed `create_completion` calls."""

    verbose = False

    def __init__(self, lane: Lane, timeout: float) -> None:
        self.lane, self.timeout = lane, timeout
        self.finishes: list[str] = []  # each call's finish reason, in order

    def create_completion(
        self, prompt: str, grammar: Any = None, stream: bool = False, **params: Any
    ) -> dict[str, Any]:
        if stream:
            raise ValueError("LaneCompletion serves non-streamed completions only")
        tokens = self.lane.model.tokenize(prompt) if prompt else [0]
        gbnf = getattr(grammar, "_grammar", None) if grammar is not None else None
        params.setdefault("temperature", 0.8)
        spec = SamplingSpec.from_params(params, grammar=gbnf)
        handle = self.lane.submit(tokens, spec)
        text, finish, n = [], "stop", 0
        try:
            for event in handle.events(timeout=self.timeout):
                if event[0] == "text":
                    text.append(event[1])
                elif event[0] == "done":
                    finish, n = event[1], event[2]
                elif event[0] == "error":
                    raise RuntimeError(event[1])
        except BaseException:
            handle.cancel()
            raise
        self.finishes.append(finish)
        return {
            "id": f"cmpl-{uuid.uuid4().hex[:24]}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": self.lane.model.path,
            "choices": [
                {"text": "".join(text), "index": 0, "logprobs": None, "finish_reason": finish}
            ],
            "usage": {
                "prompt_tokens": len(tokens),
                "completion_tokens": n,
                "total_tokens": len(tokens) + n,
            },
        }
