"""SBOM-style list of the runtime packages (the `site` extra and everything it pulls in)."""

from __future__ import annotations

import importlib.metadata as md
import re

from packaging.requirements import Requirement


def _name(req: str) -> str:
    return re.split(r"[ ;<>=!~\[(]", req, maxsplit=1)[0].strip()


def runtime_packages(root: str = "edgekit", extra: str = "site") -> list[dict[str, str]]:
    """Installed name and version of ``root[extra]``'s requirements, recursively."""
    seen: dict[str, str] = {}
    todo = []
    for raw in md.requires(root) or []:
        req = Requirement(raw)
        if req.marker is None or req.marker.evaluate({"extra": extra}):
            todo.append(req.name)
    while todo:
        name = todo.pop()
        key = name.lower().replace("_", "-")
        if key in seen:
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            seen[key] = "not installed"
            continue
        seen[key] = dist.version
        for raw in dist.requires or []:
            req = Requirement(raw)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    seen.pop("edgekit", None)
    return [{"name": n, "version": v} for n, v in sorted(seen.items())]
