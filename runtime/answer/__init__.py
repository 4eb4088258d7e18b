"""Answering one question: plan it (retrieval, rules, prompt, limits, expert routing),
generate with llama.cpp, check the answer against the excerpts. Shared by `serve`, `chat`
and the evals."""
