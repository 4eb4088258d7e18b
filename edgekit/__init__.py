"""edgekit: domain documents + a base model -> a verified, offline LLM bundle."""

__version__ = "0.1.0"
