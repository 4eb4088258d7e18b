#!/bin/sh
# Install an edgekit bundle on a machine with no network:
#   sh install.sh BUNDLE.tar [--root /opt/edgekit] [--pubkey trusted.pub] [--systemd] ...
# 1. checks every file of the archive against its manifest (python3 stdlib only, before
#    anything from it is installed), 2. creates the release's venv from the bundle's
#    wheelhouse with pip --no-index, 3. hands over to `edgekit install` from that venv:
#    signature, unpack to a versioned release, atomic switch of `current`, systemd unit.
set -eu
if [ $# -lt 1 ] || [ ! -f "$1" ]; then
    echo "usage: sh install.sh BUNDLE.tar [--root DIR] [edgekit install options]" >&2
    exit 2
fi
TAR=$1
shift
ROOT=${EDGEKIT_ROOT:-/opt/edgekit}
prev=""
for arg in "$@"; do
    [ "$prev" = "--root" ] && ROOT=$arg
    prev=$arg
done
PY=${PYTHON:-python3}

RELEASE=$("$PY" - "$TAR" <<'PYEOF'
import hashlib, json, sys, tarfile
tar = sys.argv[1]
found, manifest = {}, None
with tarfile.open(tar) as tf:
    for m in tf:
        if not m.isfile():
            continue
        rel = m.name.split("/", 1)[1]
        h, data = hashlib.sha256(), b""
        f = tf.extractfile(m)
        while block := f.read(1 << 20):
            h.update(block)
            if rel == "manifest.json":
                data += block
        found[rel] = (m.size, h.hexdigest())
        if rel == "manifest.json":
            manifest = json.loads(data)
if manifest is None:
    sys.exit(f"{tar}: no manifest.json; not an edgekit bundle")
bad = []
for e in manifest["files"]:
    got = found.pop(e["path"], None)
    if got is None:
        bad.append(f"{e['path']}: missing")
    elif got != (e["size"], e["sha256"]):
        bad.append(f"{e['path']}: changed")
bad += [f"{p}: extra file" for p in found if p not in ("manifest.json", "manifest.sig")]
if bad:
    sys.exit(f"{tar}: refusing a corrupt bundle:\n  " + "\n  ".join(bad))
if not any(e["path"].startswith("wheelhouse/") for e in manifest["files"]):
    sys.exit(f"{tar}: no wheelhouse; rebuild with `edgekit build --wheelhouse`")
print(f"{manifest['name']}-{manifest['version']}")
PYEOF
)
echo "verified $TAR ($RELEASE)"

VENV="$ROOT/releases/$RELEASE/venv"
if [ ! -f "$VENV/.edgekit-complete" ]; then
    TMP=$(mktemp -d)
    trap 'rm -rf "$TMP"' EXIT
    tar -xf "$TAR" -C "$TMP" "$RELEASE/wheelhouse"
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    "$PY" -m venv "$VENV"
    PIP_NO_INDEX=1 "$VENV/bin/pip" install -q --no-index --find-links "$TMP/$RELEASE/wheelhouse" "edgekit[site]"
    touch "$VENV/.edgekit-complete"
fi
exec "$VENV/bin/edgekit" install "$TAR" --root "$ROOT" "$@"
