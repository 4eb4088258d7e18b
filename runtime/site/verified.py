"""Open a bundle for running: verify first, then expose its model and runtime settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekit.bundle import manifest as mf
from edgekit.bundle.meta import VerifiedFolder
from edgekit.bundle.verify import verify
from edgekit.errors import BundleError
from edgekit.fsutil import HashCache


@dataclass(frozen=True)
class SiteBundle(VerifiedFolder):
    """A verified bundle, opened for running."""

    @property
    def name(self) -> str:
        return self.meta.label

    @property
    def runtime(self) -> dict[str, Any]:
        return self.meta.runtime

    def eval_sets(self) -> list[str]:
        """Bundle-relative paths of the held-out chat eval sets (JSONL) the bundle carries
        (the QA set, eval/qa.jsonl, is read by `edgekit eval qa`)."""
        prefix = f"{mf.EVAL_DIR}/"
        return sorted(
            f.path
            for f in self.meta.files
            if f.path.startswith(prefix)
            and f.path.endswith(".jsonl")
            and f.path != mf.EVAL_QA_FILE  # questions + short answers, no chat turns
        )

    def model_path(self, qtype: str | None = None) -> Path:
        """The GGUF to load: ``qtype`` if given, else the bundle's default."""
        try:
            return self.root / self.meta.model_path(qtype)
        except BundleError as exc:
            raise BundleError(f"{self.root}: {exc}") from None


def open_bundle(path: Path, full_verify: bool = False, pubkey: Path | None = None) -> SiteBundle:
    """Verify the bundle directory, then return it; refuses a corrupt bundle.

    With ``pubkey`` (`--pubkey` / $EDGEKIT_PUBKEY) the manifest's Ed25519 signature must
    also be valid under that key.

    Every file's size and every small file's sha256 are always checked; large files (the
    GGUF) reuse a cached hash while their size, mtime and inode are unchanged, unless
    ``full_verify`` (`--full-verify`) forces rehashing everything.
    """

    path = Path(path)
    if path.is_file():
        raise BundleError(f"{path}: this is an archive; unpack it first (tar -xf {path.name})")
    cache = None if full_verify else HashCache()
    report = verify(path, pubkey=Path(pubkey) if pubkey else None, cache=cache)
    report.raise_if_bad()
    return SiteBundle(path.resolve(), report.manifest)
