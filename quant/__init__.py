"""Quantization: HF checkpoint -> GGUF (llama.cpp types)."""
