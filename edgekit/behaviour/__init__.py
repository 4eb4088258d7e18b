"""Behaviour evaluation of a finished bundle through the site runtime (llama.cpp + its KB):
correctness, compliance, stability, diversity, multi-turn consistency, safety, fluency."""
