"""`edgekit bundle verify|sign|inspect|report|recipe` and `edgekit keygen`."""

from __future__ import annotations

from pathlib import Path

import click

from edgekit.bundle.recipe import TARGETS, UPSTREAMS
from edgekit.cli.common import _console, _Group, json_option, pubkey_option, threads_option
from edgekit.cli.report import bundle_report
from edgekit.errors import EdgekitError
from edgekit.runtime.serve.settings import DEFAULT_HOST, DEFAULT_PORT


@click.group(cls=_Group)
def bundle() -> None:
    """Verify, sign and inspect bundles."""


@bundle.command("verify")
@click.argument("path", type=click.Path(path_type=Path))
@pubkey_option("Also check the Ed25519 signature with this public key.")
def bundle_verify(path: Path, pubkey: Path | None) -> None:
    """Check every file against the manifest.

    Recomputes each sha256; reports changed, missing or extra files (exit 1).
    """
    from edgekit.bundle.verify import verify

    report = verify(path, pubkey=pubkey)
    for problem in report.problems:
        click.secho(f"FAIL {problem}", fg="red")
    if not report.ok:
        raise EdgekitError(f"{path}: {len(report.problems)} problem(s); do not ship or run it")
    click.echo(f"OK {path}: {report.checked} files match the manifest")


@bundle.command("sign", short_help="Sign the manifest with an Ed25519 key.")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--key", "key_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
def bundle_sign(path: Path, key_path: Path) -> None:
    """Sign BUNDLE's manifest (which covers every file's hash); writes manifest.sig and
    rewrites BUNDLE.tar beside it, if there is one, to include it."""
    from edgekit.bundle.signing import sign_bundle
    from edgekit.bundle.verify import verify

    verify(path).raise_if_bad()  # never sign a bundle whose files do not match
    click.echo(f"signed: {sign_bundle(path, key_path)}")
    tar = path.with_name(path.name + ".tar")
    if tar.is_file():  # keep the archive beside it in step
        from edgekit.bundle.writer import write_tar

        click.echo(f"archive: {write_tar(path, tar)}")


@click.command(short_help="Create an Ed25519 key pair for signing bundles.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
def keygen(out: Path) -> None:
    """Write OUT/edgekit.key (private, mode 0600) and OUT/edgekit.pub."""
    from edgekit.bundle.signing import keygen as make_keys

    priv, pub = make_keys(out)
    click.echo(f"private key: {priv}  (keep it off the site)\npublic key:  {pub}")


@bundle.command("inspect")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@json_option("Print the manifest as JSON.")
def bundle_inspect(path: Path, as_json: bool) -> None:
    """Show a bundle's models, base model and settings."""
    from edgekit.bundle.inspect import inspect_bundle

    inspect_bundle(path, _console(), as_json=as_json)


bundle.add_command(bundle_report)

RECIPE_HELP = """Write the launch commands for serving BUNDLE's weights on another engine,
with `edgekit serve BUNDLE --engine URL,...` in front of it for the knowledge base,
citations, API keys and the audit log.

\b
--for vllm          `vllm serve BUNDLE/model/gptq` (the bundle's GPTQ checkpoint: build
                    it with `quantize: {gptq: {bits: 4}}`), then edgekit in front
--for llama-server  one llama-server per --replicas over the bundle's GGUF, with the
                    attention edgekit's own engine uses, then edgekit in front
--for compose       docker-compose.yml: the upstreams (--upstream) unpublished, edgekit
                    published; images come from $LLAMA_SERVER_IMAGE / $VLLM_IMAGE /
                    $EDGEKIT_IMAGE (loaded on the host, never pulled)
--for systemd       one unit per upstream and edgekit-front.service

The bundle is verified first and only read (mounted read-only, ReadOnlyPaths=). Without
--out the recipe goes to stdout. The upstreams keep no audit and check no keys unless
given their own --api-key (edgekit then sends $EDGEKIT_ENGINE_KEY): keep them on loopback
(the default) or a network only edgekit reaches."""


@bundle.command(
    "recipe", help=RECIPE_HELP, short_help="Commands for vLLM / llama-server behind edgekit."
)
@click.argument(
    "path", metavar="BUNDLE", type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.option("--for", "target", required=True, type=click.Choice(TARGETS), help="What to write.")
@click.option(
    "--upstream",
    type=click.Choice(UPSTREAMS),
    default="llama-server",
    show_default=True,
    help="What compose and systemd run behind edgekit.",
)
@click.option("--replicas", default=1, show_default=True, help="llama-server processes.")
@click.option("--gpus", default=1, show_default=True, help="vLLM's --tensor-parallel-size.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Where upstreams listen.")
@click.option(
    "--port", default=8081, show_default=True, help="First upstream's port; replicas count up."
)
@click.option("--serve-host", default=DEFAULT_HOST, show_default=True, help="edgekit's host.")
@click.option("--serve-port", default=DEFAULT_PORT, show_default=True, help="edgekit's port.")
@click.option(
    "--slots",
    default=4,
    show_default=True,
    help="llama-server: requests decoded at once per replica, each with the bundle's context.",
)
@threads_option("llama-server threads per replica (default: this machine's share).")
@click.option(
    "--gpu-layers", default=0, show_default=True, help="llama-server -ngl (-1: all layers)."
)
@click.option(
    "--fast-attention",
    is_flag=True,
    help="llama-server with llama.cpp's tiled kernels (f16 V cache), as `serve "
    "--fast-attention`; always so with --gpu-layers.",
)
@click.option("--gguf-type", default=None, help="Which of the bundle's GGUFs (default: its own).")
@click.option(
    "--experimental-gguf",
    is_flag=True,
    help="vLLM on the GGUF when the bundle has no GPTQ checkpoint (vLLM's GGUF support is "
    "experimental).",
)
@click.option(
    "--llama-server",
    "llama_server",
    default="llama-server",
    show_default=True,
    help="The llama-server binary (systemd wants an absolute path; compose, the image's).",
)
@click.option("--vllm", default="vllm", show_default=True, help="The vllm command.")
@click.option(
    "--edgekit", "edgekit_bin", default=None, help="Default: this edgekit (compose: the image's)."
)
@click.option("--user", default=None, help="systemd User= (default: you).")
@pubkey_option("Require this Ed25519 key's signature (now, and in edgekit serve's line).")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write the files here (default: print to stdout).",
)
def bundle_recipe(
    path: Path,
    target: str,
    upstream: str,
    replicas: int,
    gpus: int,
    host: str,
    port: int,
    serve_host: str,
    serve_port: int,
    slots: int,
    threads: int | None,
    gpu_layers: int,
    fast_attention: bool,
    gguf_type: str | None,
    experimental_gguf: bool,
    llama_server: str,
    vllm: str,
    edgekit_bin: str | None,
    user: str | None,
    pubkey: Path | None,
    out: Path | None,
) -> None:
    import getpass
    import shutil
    import sys

    from edgekit.bundle.meta import Manifest
    from edgekit.bundle.recipe import RecipeOptions, recipe
    from edgekit.fsutil import atomic_write_text
    from edgekit.runtime.site.verified import open_bundle
    from edgekit.runtime.threads import default_threads

    site = open_bundle(path, pubkey=pubkey)  # verified; only read from here on
    here = Path(sys.executable).parent / "edgekit"
    if edgekit_bin is None:  # this one, on this host; in a container, the image's
        local = str(here) if here.is_file() else shutil.which("edgekit")
        edgekit_bin = (local if target != "compose" else None) or "edgekit"
    opts = RecipeOptions(
        target=target,
        upstream=upstream,
        replicas=replicas,
        gpus=gpus,
        host=host,
        port=port,
        serve_host=serve_host,
        serve_port=serve_port,
        slots=slots,
        threads=threads or max(1, default_threads() // max(1, replicas)),
        gpu_layers=gpu_layers,
        fast_attention=fast_attention,
        gguf_type=gguf_type,
        experimental_gguf=experimental_gguf,
        llama_server=llama_server,
        vllm=vllm,
        edgekit=edgekit_bin,
        pubkey=pubkey,
        user=user or getpass.getuser(),
    )
    result = recipe(site.root, Manifest(site.manifest), opts)
    if out is None:
        click.echo(result.text(), nl=False)
        return
    if out.resolve().is_relative_to(site.root):
        raise EdgekitError(f"--out {out}: inside the bundle, which is never changed")
    for name, text in result.files.items():
        atomic_write_text(out / name, text)
        click.echo(f"wrote {out / name}")
