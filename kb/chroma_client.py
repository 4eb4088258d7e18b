"""Chroma's client for a knowledge base: a Chroma server when the KB names one, else the
embedded PersistentClient in the KB's own folder; telemetry always off."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from edgekit import deps

CHROMA_DIR = "chroma"


def chroma_client(kb_dir: Path, server: str | None) -> Any:
    """Chroma's client for a KB: a server when one is set, else the KB's own folder."""
    chromadb = deps.require("chromadb")
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)
    if server:
        url = urlparse(server)
        return chromadb.HttpClient(
            host=url.hostname or "127.0.0.1",
            port=url.port or 8000,
            ssl=url.scheme == "https",
            settings=settings,
        )
    return chromadb.PersistentClient(path=str(kb_dir / CHROMA_DIR), settings=settings)
