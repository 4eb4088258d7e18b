"""Open a bundle for running: verify first, then expose its model and runtime settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekit.bundle import manifest as mf
from edgekit.errors import BundleError


@dataclass(frozen=True)
class SiteBundle:
    root: Path
    manifest: dict[str, Any]

    @property
    def name(self) -> str:
        return f"{self.manifest[mf.K_NAME]}-{self.manifest[mf.K_VERSION]}"

    @property
    def runtime(self) -> dict[str, Any]:
        return dict(self.manifest.get(mf.K_RUNTIME, {}))

    def eval_sets(self) -> list[str]:
        """Bundle-relative paths of the held-out chat eval sets (JSONL) the bundle carries
        (the QA set, eval/qa.jsonl, is read by `edgekit eval qa`)."""
        prefix = f"{mf.EVAL_DIR}/"
        return sorted(
            e[mf.K_PATH]
            for e in self.manifest.get(mf.K_FILES, [])
            if e[mf.K_PATH].startswith(prefix)
            and e[mf.K_PATH].endswith(".jsonl")
            and e[mf.K_PATH] != mf.EVAL_QA_FILE  # questions + short answers, no chat turns
        )

    def model_path(self, qtype: str | None = None) -> Path:
        """The GGUF to load: ``qtype`` if given, else the bundle's default."""
        models = self.manifest.get(mf.K_MODELS, [])
        if qtype is None:
            rel = self.manifest.get(mf.K_DEFAULT_MODEL)
        else:
            rel = next((m[mf.K_PATH] for m in models if m[mf.K_QTYPE] == qtype.upper()), None)
            if rel is None:
                have = ", ".join(m[mf.K_QTYPE] for m in models)
                raise BundleError(f"{self.root}: no {qtype} model in this bundle (has: {have})")
        if not rel:
            raise BundleError(f"{self.root}: manifest names no model")
        return self.root / rel


def open_bundle(path: Path, full_verify: bool = False, pubkey: Path | None = None) -> SiteBundle:
    """Verify the bundle directory, then return it; refuses a corrupt bundle.

    With ``pubkey`` (`--pubkey` / $EDGEKIT_PUBKEY) the manifest's Ed25519 signature must
    also be valid under that key.

    Every file's size and every small file's sha256 are always checked; large files (the
    GGUF) reuse a cached hash while their size, mtime and inode are unchanged, unless
    ``full_verify`` (`--full-verify`) forces rehashing everything.
    """
    from edgekit.bundle.verify import verify_dir
    from edgekit.fsutil import HashCache

    path = Path(path)
    if path.is_file():
        raise BundleError(f"{path}: this is an archive; unpack it first (tar -xf {path.name})")
    report = verify_dir(path, full=True, cache=None if full_verify else HashCache())
    if pubkey is not None:
        from edgekit.bundle.signing import check_signature

        report.problems += check_signature(path, Path(pubkey))
    report.raise_if_bad()
    return SiteBundle(path.resolve(), report.manifest)
