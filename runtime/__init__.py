"""Site runtime: load a verified bundle and run it with llama.cpp (no torch)."""
