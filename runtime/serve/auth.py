"""API keys for `edgekit serve`: stored hashed (sha256) in a JSON file beside the bundle.

A key looks like `ek_<id>_<secret>`; only its hash is kept, so the file can be read by an
auditor without exposing working keys. Roles: `user` (chat, completions, embeddings,
metrics) and `admin` (everything, including key and adapter operations).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edgekit.errors import EdgekitError
from edgekit.fsutil import atomic_write_json

ROLES = ("user", "admin")


@dataclass(frozen=True)
class ApiKey:
    id: str
    role: str
    name: str
    created: str
    revoked: bool


def keys_file(bundle: Path) -> Path:
    """`<bundle dir>.apikeys.json`, next to the bundle (never inside: that is signed)."""
    bundle = Path(bundle).resolve()
    return bundle.with_name(bundle.name + ".apikeys.json")


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _read(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    try:
        return list(json.loads(path.read_text())["keys"])
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise EdgekitError(f"{path}: unreadable API key file ({exc})") from None


def add_key(bundle: Path, role: str = "user", name: str = "") -> tuple[ApiKey, str]:
    """Create a key; returns its record and the key itself (shown once, never stored)."""
    if role not in ROLES:
        raise EdgekitError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    path = keys_file(bundle)
    rows = _read(path)
    key_id = secrets.token_hex(4)
    key = f"ek_{key_id}_{secrets.token_urlsafe(24)}"
    row = {
        "id": key_id,
        "role": role,
        "name": name,
        "sha256": _digest(key),
        "revoked": False,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    atomic_write_json(path, {"keys": rows + [row]})
    path.chmod(0o600)
    return _record(row), key


def _record(row: dict[str, Any]) -> ApiKey:
    return ApiKey(row["id"], row["role"], row.get("name", ""), row["created"], row["revoked"])


def list_keys(bundle: Path) -> list[ApiKey]:
    return [_record(r) for r in _read(keys_file(bundle))]


def revoke_key(bundle: Path, key_id: str) -> ApiKey:
    path = keys_file(bundle)
    rows = _read(path)
    for row in rows:
        if row["id"] == key_id:
            row["revoked"] = True
            atomic_write_json(path, {"keys": rows})
            return _record(row)
    raise EdgekitError(f"no API key with id {key_id!r} (see `edgekit apikey list`)")


class KeyStore:
    """Checks presented keys; re-reads the file when it changes (revocations apply live)."""

    def __init__(self, bundle: Path) -> None:
        self.path = keys_file(bundle)
        self._stamp: tuple[float, int] | None = None
        self._rows: list[dict[str, Any]] = []

    def _refresh(self) -> None:
        stamp = (
            (self.path.stat().st_mtime, self.path.stat().st_size) if self.path.is_file() else None
        )
        if stamp != self._stamp:
            self._rows = _read(self.path)
            self._stamp = stamp

    def check(self, key: str) -> ApiKey | None:
        self._refresh()
        digest = _digest(key)
        for row in self._rows:
            if hmac.compare_digest(row["sha256"], digest) and not row["revoked"]:
                return _record(row)
        return None
