"""The bundle's offline wheelhouse: every wheel the `site` extra needs, for one target.

Built on the build side (which may reach a package index) with pip:

- this machine's Python and platform (default): `pip wheel`, which also builds the wheels
  that exist only as source. The wheels `make install` built for this environment
  (`<venv>/wheels`: llama-cpp-python, compiled with the Makefile's flags) are used as they
  are, so the site runs the llama.cpp that was tested here;
- another target (`--python-version 3.11 --platform manylinux_2_28_x86_64`): `pip download
  --only-binary=:all:`; wheels PyPI does not have for it (llama-cpp-python) must be given
  with `--find-links DIR`, built once on a machine like the site's.

The site installs with `pip install --no-index --find-links wheelhouse 'edgekit[site]'`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import edgekit
from edgekit import __version__
from edgekit.bundle import manifest as mf
from edgekit.errors import EdgekitError
from edgekit.fsutil import replace_dir, sha256_json, sha256_tree, temp_dir_beside


@dataclass(frozen=True)
class Target:
    python_version: str | None = None  # e.g. "3.11"; None: this interpreter
    platform: str | None = None  # e.g. "manylinux_2_28_x86_64"; None: this machine

    @property
    def is_host(self) -> bool:
        return self.python_version is None and self.platform is None

    def label(self) -> str:
        if self.is_host:
            return f"host (python {sys.version_info.major}.{sys.version_info.minor})"
        return f"python {self.python_version or 'host'} / {self.platform or 'host'}"


def source_tree() -> Path:
    """The edgekit source tree this edgekit runs from (an editable or source install)."""

    root = Path(edgekit.__file__).resolve().parent.parent
    if not (root / "pyproject.toml").is_file():
        raise EdgekitError(
            "--wheelhouse needs edgekit's source tree (install edgekit with `pip install -e`) "
            f"so it can build edgekit's own wheel; {root} has no pyproject.toml"
        )
    return root


def _pip(args: list[str], log: Path) -> None:
    cmd = [sys.executable, "-m", "pip", *args]
    with open(log, "a") as fh:
        fh.write("$ " + " ".join(cmd) + "\n")
        fh.flush()
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-15:])
        raise EdgekitError(
            f"pip failed while building the wheelhouse (exit {proc.returncode}); the build "
            f"side needs a package index or --find-links with the wheels. Log: {log}\n{tail}"
        )


def build_wheelhouse(
    out: Path, target: Target = Target(), find_links: tuple[Path, ...] = ()
) -> list[Path]:
    """Write every wheel `edgekit[site]` needs into ``out`` (replaced atomically)."""
    root = source_tree()
    tmp = temp_dir_beside(out)
    log = out.with_name(out.name + ".log")
    log.write_text("")
    own = Path(sys.prefix) / "wheels"  # wheels this environment was installed from
    dirs = [*find_links, *([own] if own.is_dir() else [])]
    links = [a for fl in dirs for a in ("--find-links", str(fl))]
    constraints = (
        ["-c", str(root / "constraints.txt")] if (root / "constraints.txt").is_file() else []
    )
    try:
        # edgekit's own wheel, from the source tree, with the build tools already installed
        _pip(["wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp), str(root)], log)
        want = f"edgekit[site]=={__version__}"
        if target.is_host:
            _pip(
                [
                    "wheel",
                    "-q",
                    "-w",
                    str(tmp),
                    "--find-links",
                    str(tmp),
                    *links,
                    *constraints,
                    want,
                ],
                log,
            )
        else:
            plat = ["--only-binary=:all:", "--implementation", "cp"]
            if target.python_version:
                plat += ["--python-version", target.python_version]
            if target.platform:
                plat += ["--platform", target.platform]
            _pip(
                ["download", "-q", "-d", str(tmp), "--find-links", str(tmp), *links, *plat, want],
                log,
            )
        wheels = sorted(tmp.glob("*.whl"))
        if not any(w.name.startswith("llama_cpp_python-") for w in wheels):
            raise EdgekitError(f"no llama-cpp-python wheel in the wheelhouse; see {log}")
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return sorted(out.glob("*.whl"))


SITE_ASSETS = ("install.sh", "edgekit.service.in")


def wheelhouse_key(target: Target, find_links: list[Path]) -> str:
    """Changes when edgekit's code, its dependencies or the target change."""

    root = source_tree()
    return sha256_json(
        {
            "edgekit": __version__,
            "code": [
                sha256_tree(root / d) for d in ("edgekit", "quant", "runtime", "kb", "packaging")
            ],
            "pyproject": (root / "pyproject.toml").read_text(),
            "target": [target.python_version, target.platform],
            "python": list(sys.version_info[:2]) if target.is_host else None,
            "find_links": sorted(str(f) for f in find_links),
        }
    )


def add_site_files(writer: Any, wheelhouse: Path) -> None:
    """The wheelhouse and the site installer assets, into a bundle being written."""

    site = source_tree() / "packaging" / "site"
    writer.add_tree(wheelhouse, mf.WHEELHOUSE_DIR)
    for name in SITE_ASSETS:
        writer.add_file(site / name, f"{mf.INSTALL_DIR}/{name}")
