"""`edgekit adapter package`: a trained LoRA as a signed adapter package for a site (the
package format is `edgekit.bundle.adapter_pkg`; a site imports it with `adapter import`)."""

from __future__ import annotations

import tempfile
from datetime import datetime, timezone
from pathlib import Path

from edgekit.bundle import manifest as mf
from edgekit.bundle.adapter_pkg import PEFT_FILES, check_version, read_eval_set
from edgekit.bundle.meta import AdapterMeta, ModelRef
from edgekit.bundle.signing import sign_bundle
from edgekit.bundle.writer import BundleWriter, write_tar
from edgekit.errors import BundleError
from edgekit.merge import check_adapter
from edgekit.models import prepare_model
from edgekit.quant.lora_gguf import peft_to_gguf


def package_adapter(
    adapter_dir: Path,
    base_spec: str,
    bundle_id: str,
    eval_set: Path,
    key: Path,
    out_dir: Path,
    version: str | None = None,
) -> Path:
    """Convert, lay out, sign and tar an adapter package; returns the .tar path."""
    version = check_version(version or datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S"))
    read_eval_set(eval_set)  # refuse a bad eval set before the slow steps
    if not key.is_file():
        raise BundleError(f"{key}: no such private key (make one with `edgekit keygen`)")
    base = prepare_model(base_spec)
    check_adapter(base, adapter_dir)
    target = out_dir / f"{bundle_id}-adapter-{version}"
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".convert-") as conv:
        gguf = peft_to_gguf(adapter_dir, base.path, Path(conv) / mf.ADAPTER_GGUF)
        writer = BundleWriter(target).open()
        try:
            writer.add_file(gguf, mf.ADAPTER_GGUF)
            for name in PEFT_FILES:
                if (adapter_dir / name).is_file():
                    writer.add_file(adapter_dir / name, f"{mf.PEFT_DIR}/{name}")
            writer.add_file(eval_set, mf.EVAL_FILE)
            meta = AdapterMeta(bundle_id, version, ModelRef(base.spec, base.sha256))
            writer.finalize(meta.to_json())
            writer.commit(tar=False)
        except BaseException:
            writer.abort()
            raise
    sign_bundle(target, key)
    return write_tar(target, target.with_name(target.name + ".tar"))
