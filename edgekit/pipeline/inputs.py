"""What the build config says the stages use: the QA set's place and questions, and the
answer settings before any measured choice. Shared by the training, QA and package stages
(each imports this, none of them another)."""

from __future__ import annotations

from pathlib import Path

from edgekit.bundle.answer_settings import TUNABLE, AnswerSettings
from edgekit.config import LoadedConfig
from edgekit.config.layout import WorkLayout
from edgekit.qa.evalset import load_qa_jsonl
from edgekit.qa.facts import question_key


def qa_enabled(loaded: LoadedConfig) -> bool:
    cfg = loaded.config
    return cfg.docs is not None and cfg.kb.enabled and cfg.eval.qa.enabled


def user_set(loaded: LoadedConfig) -> Path | None:
    """The config's `eval.qa.file`, else `eval/qa.jsonl` beside the config, if present."""
    given = loaded.config.eval.qa.file
    if given is not None:
        return given
    default = loaded.root / "eval" / "qa.jsonl"
    return default if default.is_file() else None


def qa_set_path(loaded: LoadedConfig) -> Path:
    return WorkLayout.of(loaded).qa_set


def qa_questions(loaded: LoadedConfig) -> set[str]:
    """The QA set's questions (normalised) for the data build to leave out."""
    path = qa_set_path(loaded)
    if not qa_enabled(loaded) or not path.is_file():
        return set()
    return {question_key(i.question) for i in load_qa_jsonl(path)}


def answer_settings(loaded: LoadedConfig) -> AnswerSettings:
    """The config's prompt and retrieval settings (before any measured choice)."""
    cfg = loaded.config
    p, k = cfg.prompt, cfg.kb
    return AnswerSettings(
        system_prompt=p.system,
        max_tokens=p.max_tokens,
        temperature=p.temperature,
        n_ctx=p.n_ctx,
        top_k=k.top_k,
        context_tokens=k.context_tokens,
        fusion=k.fusion,
        bm25_segmenter=k.bm25_segmenter,
        bm25_weight=k.bm25_weight,
        vector_weight=k.vector_weight,
        excerpt_order=p.excerpt_order,
        prompt_style=p.prompt_style,
        repeat_penalty=p.repeat_penalty,
        loop_guard=p.loop_guard,
    )


def pinned_settings(loaded: LoadedConfig) -> list[str]:
    """AnswerSettings fields the config sets explicitly: never changed by measurement."""
    cfg = loaded.config
    return sorted((cfg.prompt.model_fields_set | cfg.kb.model_fields_set) & set(TUNABLE))
