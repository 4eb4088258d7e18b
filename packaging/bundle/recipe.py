"""Launch recipes: a bundle's weights on an engine the site already runs (vLLM on a GPU
server, llama-server replicas) with `edgekit serve BUNDLE --engine URL,...` in front for the
knowledge base, citations, keys and audit.

Pure: a bundle's path and manifest in, command lines and file texts out. Nothing here reads
or writes a file; `edgekit bundle recipe` verifies the bundle first and writes the files.
"""

from __future__ import annotations

import re
import shlex
import textwrap
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from edgekit.bundle import manifest as mf
from edgekit.bundle.answer_settings import (
    EXACT_ATTENTION,
    GGML_BF16,
    GGML_F16,
    AnswerSettings,
    attention,
)
from edgekit.bundle.meta import Manifest
from edgekit.errors import BundleError, EdgekitError

TARGETS = ("vllm", "llama-server", "compose", "systemd")
UPSTREAMS = ("llama-server", "vllm")  # what compose and systemd run behind edgekit
CACHE_TYPES = {GGML_F16: "f16", GGML_BF16: "bf16"}  # ggml type id -> llama.cpp's name
LOOPBACK = ("127.0.0.1", "localhost", "::1")
CONTAINER_ROOT = "/srv/edgekit"  # compose: the bundle's folder is mounted here
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
# vLLM sends anonymous usage stats unless told not to; a site server reaches nothing
VLLM_ENV = {**OFFLINE_ENV, "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"}
IMAGE_VARS = {
    e: e.upper().replace("-", "_") + "_IMAGE" for e in ("llama-server", "vllm", "edgekit")
}
FRONT = "edgekit"  # compose service of `edgekit serve --engine`
FRONT_UNIT = "edgekit-front.service"
LAUNCH_FILE = "launch.txt"
COMPOSE_FILE = "docker-compose.yml"


@dataclass(frozen=True)
class RecipeOptions:
    """How the upstreams and edgekit in front of them run."""

    target: str
    upstream: str = "llama-server"  # compose / systemd: llama-server replicas or one vLLM
    replicas: int = 1  # llama-server processes
    gpus: int = 1  # vLLM's tensor parallel size
    host: str = "127.0.0.1"  # where the upstreams listen
    port: int = 8081  # the first upstream's port; replicas count up from it
    serve_host: str = "127.0.0.1"  # edgekit serve in front
    serve_port: int = 8080
    slots: int = 4  # llama-server: requests decoded at once, each with the bundle's context
    threads: int = 1  # llama-server: CPU threads per replica
    gpu_layers: int = 0  # llama-server: layers on the GPU (-1: all)
    fast_attention: bool = False  # llama.cpp's tiled kernels, as `serve --fast-attention`
    gguf_type: str | None = None  # which of the bundle's GGUFs (default: the bundle's)
    experimental_gguf: bool = False  # vLLM on the GGUF when the bundle has no GPTQ
    llama_server: str = "llama-server"  # binaries (absolute paths suit systemd)
    vllm: str = "vllm"
    edgekit: str = "edgekit"
    pubkey: Path | None = None  # passed on to `edgekit serve --pubkey`
    user: str | None = None  # systemd User=


@dataclass(frozen=True)
class Upstream:
    """One generation server behind edgekit."""

    name: str  # compose service; systemd unit edgekit-<name>.service
    engine: str  # llama-server | vllm
    argv: list[str]
    port: int
    gpus: int = 0  # GPUs to reserve (compose)
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Recipe:
    """What `edgekit bundle recipe` prints or writes."""

    target: str
    commands: list[list[str]]  # argv of each process: the upstreams, then edgekit serve
    files: dict[str, str]  # file name -> text
    notes: list[str]

    def text(self) -> str:
        """Everything on stdout: one file as it is, several each under a header line."""
        if len(self.files) == 1:
            return next(iter(self.files.values()))
        return "\n".join(f"# ==> {name} <==\n{text}" for name, text in self.files.items())


@dataclass(frozen=True)
class BundleModel:
    """What the recipes need from a bundle's manifest (bundle-relative paths)."""

    label: str  # <name>-<version>: the model name edgekit serves
    n_ctx: int
    gguf: str | None
    gptq: str | None
    gptq_info: dict[str, Any]


def bundle_model(manifest: Manifest, gguf_type: str | None = None) -> BundleModel:
    gptq = manifest.data.get(mf.K_GPTQ) or None
    try:
        gguf: str | None = manifest.model_path(gguf_type)
    except BundleError:
        if gguf_type is not None:
            raise
        gguf = None  # a GPTQ-only bundle
    return BundleModel(
        label=manifest.label,
        n_ctx=AnswerSettings.from_manifest(manifest.data).n_ctx,
        gguf=gguf,
        gptq=str(gptq.get(mf.K_PATH) or mf.GPTQ_DIR) if gptq else None,
        gptq_info=dict(gptq) if gptq else {},
    )


def _no_gptq(label: str) -> str:
    return (
        f"{label} has no GPTQ checkpoint ({mf.GPTQ_DIR}/), which vLLM loads. Rebuild it with "
        "`quantize: {gptq: {bits: 4, group_size: 128}}` in edgekit.yaml (the gptq extra; "
        "docs/quantization.md), or serve its GGUF with llama-server replicas: `edgekit bundle "
        "recipe BUNDLE --for llama-server --replicas N`. vLLM's GGUF loading is experimental "
        "(a plugin in recent vLLM, slow tokenizer conversion): --experimental-gguf writes "
        "that command anyway."
    )


def _check(model: BundleModel, opts: RecipeOptions) -> None:
    if opts.target not in TARGETS:
        raise EdgekitError(f"--for must be one of {', '.join(TARGETS)} (got {opts.target!r})")
    if opts.upstream not in UPSTREAMS:
        raise EdgekitError(f"--upstream must be one of {', '.join(UPSTREAMS)}")
    for name, value in (("replicas", opts.replicas), ("gpus", opts.gpus)):
        if value < 1:
            raise EdgekitError(f"--{name} must be at least 1 (got {value})")
    if opts.slots < 1 or opts.threads < 1:
        raise EdgekitError("--slots and --threads must be at least 1")
    if _engine(opts) == "vllm":
        if opts.replicas != 1:
            raise EdgekitError("vLLM runs as one server: spread it over GPUs with --gpus N")
        if model.gptq is None and not (opts.experimental_gguf and model.gguf):
            raise BundleError(_no_gptq(model.label))
    elif model.gguf is None:
        raise BundleError(
            f"{model.label} ships no GGUF for llama-server (a GPTQ-only bundle?): use "
            "--for vllm, or rebuild with a `quantize: {gguf: [...]}` type"
        )
    ports = [opts.port + i for i in range(opts.replicas)]
    if opts.serve_port in ports or not all(0 < p < 65536 for p in [*ports, opts.serve_port]):
        raise EdgekitError(
            f"ports: upstreams {ports[0]}-{ports[-1]} and edgekit {opts.serve_port} must be "
            "distinct and within 1-65535 (set --port and --serve-port)"
        )


def _engine(opts: RecipeOptions) -> str:
    return opts.target if opts.target in UPSTREAMS else opts.upstream


def llama_server_argv(
    model: BundleModel, opts: RecipeOptions, root: str, host: str, port: int
) -> list[str]:
    """llama-server over the bundle's GGUF with the attention edgekit's own engine uses."""
    att = attention(gpu_layers=opts.gpu_layers, fast=opts.fast_attention)
    return [
        opts.llama_server,
        *("-m", f"{root}/{model.gguf}", "--host", host, "--port", str(port)),
        *("-np", str(opts.slots), "-c", str(model.n_ctx * opts.slots)),
        *("-t", str(opts.threads), "-ngl", "all" if opts.gpu_layers < 0 else str(opts.gpu_layers)),
        *("-fa", "on" if att.flash else "off"),
        *("-ctk", CACHE_TYPES[att.type_k], "-ctv", CACHE_TYPES[att.type_v]),
        *("--alias", model.label, "--jinja", "--no-webui"),
    ]


def vllm_argv(
    model: BundleModel, opts: RecipeOptions, root: str, host: str, port: int
) -> list[str]:
    """`vllm serve` over the GPTQ checkpoint (or, asked for, the GGUF: experimental)."""
    if model.gptq is not None:
        weights = [f"{root}/{model.gptq}", "--quantization", "gptq", "--dtype", "float16"]
    else:
        weights = [f"{root}/{model.gguf}"]
    return [
        *(opts.vllm, "serve", *weights, "--served-model-name", model.label),
        *("--max-model-len", str(model.n_ctx), "--tensor-parallel-size", str(opts.gpus)),
        *("--host", host, "--port", str(port)),
    ]


def upstreams(model: BundleModel, opts: RecipeOptions, root: str, host: str) -> list[Upstream]:
    if _engine(opts) == "vllm":
        argv = vllm_argv(model, opts, root, host, opts.port)
        return [Upstream("vllm", "vllm", argv, opts.port, opts.gpus, dict(VLLM_ENV))]
    ports = range(opts.port, opts.port + opts.replicas)
    argvs = [llama_server_argv(model, opts, root, host, port) for port in ports]
    return [
        Upstream(f"llama-{i + 1}", "llama-server", a, p)
        for i, (a, p) in enumerate(zip(argvs, ports))
    ]


def serve_argv(
    opts: RecipeOptions, bundle: str, urls: list[str], host: str, pubkey: str | None
) -> list[str]:
    """`edgekit serve` in front: KB, citations, keys and audit; generation upstream."""
    argv = [opts.edgekit, "serve", bundle, "--engine", ",".join(urls)]
    argv += ["--host", host, "--port", str(opts.serve_port)]
    return argv + (["--pubkey", pubkey] if pubkey else [])


def _url(host: str, port: int) -> str:
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


def _header(model: BundleModel, notes: list[str]) -> str:
    lines = [f"edgekit bundle recipe for {model.label}"]
    lines += [line for note in notes for line in textwrap.wrap(note, 88, break_on_hyphens=False)]
    return "".join(f"# {line}\n" for line in lines)


def _notes(model: BundleModel, opts: RecipeOptions) -> list[str]:
    notes = [
        "Clients talk to edgekit (keys, audit). The upstreams check no keys unless given "
        "--api-key (edgekit then sends $EDGEKIT_ENGINE_KEY): keep them where only edgekit "
        "reaches them (loopback, or a network of their own)."
    ]
    engine = _engine(opts)
    if engine == "vllm" and model.gptq is None:
        notes.append(
            "EXPERIMENTAL: vLLM on the GGUF (vLLM's GGUF support is experimental; recent "
            "vLLM needs its GGUF plugin and converts the tokenizer itself, slowly)."
        )
    elif engine == "vllm":
        label = model.gptq_info.get("label") or "GPTQ"
        notes.append(
            f"vLLM serves the GPTQ checkpoint ({label}, float16 activations): answers may "
            "differ from those of the bundle's GGUF under `edgekit serve` alone."
        )
    else:
        att = attention(gpu_layers=opts.gpu_layers, fast=opts.fast_attention)
        exact = "exact (batch-invariant on CPU)" if att == EXACT_ATTENTION else "fast"
        notes.append(
            f"llama-server runs edgekit's {exact} attention: flash attention, K cache "
            f"{CACHE_TYPES[att.type_k]}, V cache {CACHE_TYPES[att.type_v]}; {opts.slots} slots "
            f"of {model.n_ctx} tokens per replica."
        )
    return notes


def _front(model: BundleModel, opts: RecipeOptions, bundle: Path, ups: list[Upstream]) -> list[str]:
    """`edgekit serve` on this host, sending generation to ``ups`` (on this host too)."""
    pubkey = str(opts.pubkey.resolve()) if opts.pubkey else None
    urls = [_url(opts.host, u.port) for u in ups]
    return serve_argv(opts, str(bundle), urls, opts.serve_host, pubkey)


def launch_lines(model: BundleModel, opts: RecipeOptions, bundle: Path) -> tuple[list, str]:
    """Each process's argv (upstreams first, then edgekit) and the text listing them."""
    ups = upstreams(model, opts, str(bundle), opts.host)
    commands = [u.argv for u in ups] + [_front(model, opts, bundle, ups)]
    text = _header(model, _notes(model, opts))
    text += "# One long-running process per line: the upstreams first, then edgekit.\n"
    for u in ups:
        text += (
            "".join(f"{k}={shlex.quote(v)} " for k, v in u.env.items()) + shlex.join(u.argv) + "\n"
        )
    return commands, text + shlex.join(commands[-1]) + "\n"


def _service(engine: str, argv: list[str], env: dict[str, str], volumes: list[str]) -> dict:
    var = IMAGE_VARS[engine]
    service: dict[str, Any] = {
        "image": f"${{{var}:?set {var}: the {engine} image, loaded on this host}}",
        "pull_policy": "never",
        "entrypoint": argv[:1],
        "command": argv[1:],
    }
    if env:
        service["environment"] = dict(env)
    return service | {"volumes": volumes, "restart": "unless-stopped"}


def _publish(host: str, port: int) -> str:
    return f"{f'[{host}]' if ':' in host else host}:{port}:{port}"


def compose_file(model: BundleModel, opts: RecipeOptions, bundle: Path) -> tuple[list, str]:
    """docker-compose.yml: the upstreams on the project's own network, edgekit published."""
    import yaml

    inside = str(PurePosixPath(CONTAINER_ROOT) / bundle.name)
    mount = f"{bundle}:{inside}:ro"
    ups = upstreams(model, opts, inside, "0.0.0.0")
    services: dict[str, Any] = {}
    for u in ups:
        services[u.name] = _service(u.engine, u.argv, u.env, [mount])
        if u.gpus:
            gpu = {"driver": "nvidia", "count": u.gpus, "capabilities": ["gpu"]}
            services[u.name]["deploy"] = {"resources": {"reservations": {"devices": [gpu]}}}
            services[u.name]["ipc"] = "host"  # tensor-parallel workers share memory
    pubkey = "/etc/edgekit/trusted.pub" if opts.pubkey else None
    serve = serve_argv(opts, inside, [f"http://{u.name}:{u.port}" for u in ups], "0.0.0.0", pubkey)
    # API keys (<bundle>.apikeys.json) and the audit log live beside the bundle: writable
    volumes = [f"{bundle.parent}:{CONTAINER_ROOT}", mount]
    if opts.pubkey:
        volumes.append(f"{opts.pubkey.resolve()}:{pubkey}:ro")
    services[FRONT] = _service(FRONT, serve, OFFLINE_ENV, volumes)
    services[FRONT] |= {"depends_on": [u.name for u in ups]}
    services[FRONT] |= {"ports": [_publish(opts.serve_host, opts.serve_port)]}
    body = yaml.safe_dump({"services": services}, sort_keys=False, width=1000)
    image_note = "    # set by the site: an image loaded with `docker load`; nothing is pulled\n"
    body = re.sub(r"^(    image: )", lambda m: image_note + m.group(1), body, flags=re.M)
    images = sorted({IMAGE_VARS[u.engine] for u in ups} | {IMAGE_VARS[FRONT]})
    run = (
        f"Run: {' '.join(f'{v}=...' for v in images)} docker compose -f {COMPOSE_FILE} up -d. "
        f"Only edgekit is published ({_publish(opts.serve_host, opts.serve_port)}); the "
        "bundle is mounted read-only, its folder's parent writable (keys, audit log)."
    )
    return [u.argv for u in ups] + [serve], _header(model, [*_notes(model, opts), run]) + body


def _unit_arg(arg: str) -> str:
    """One ExecStart word, quoted for systemd (specifiers % and variables $ escaped)."""
    arg = arg.replace("%", "%%").replace("$", "$$")
    if re.fullmatch(r"[A-Za-z0-9_@%+=:,./-]+", arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _unit(unit: dict, argv: list[str], env: dict, host: str, bundle: Path, o: RecipeOptions) -> str:
    """A unit file: ``argv`` reads the bundle only; loopback-only hosts reach no network."""
    service = {"Type": "simple", **({"User": o.user} if o.user else {})}
    if env:
        service["Environment"] = " ".join(f"{k}={v}" for k, v in env.items())
    service["ExecStart"] = " ".join(_unit_arg(a) for a in argv)
    service |= {"Restart": "on-failure", "RestartSec": "5", "NoNewPrivileges": "true"}
    service |= {"ProtectSystem": "full", "PrivateTmp": "true"}
    service["ReadOnlyPaths"] = _unit_arg(str(bundle))
    if host in LOOPBACK:  # nothing but loopback: no way out to any network
        service |= {"IPAddressDeny": "any", "IPAddressAllow": "localhost"}
    sections = {"Unit": unit, "Service": service, "Install": {"WantedBy": "multi-user.target"}}
    return "\n".join(
        f"[{name}]\n" + "".join(f"{k}={v}\n" for k, v in body.items())
        for name, body in sections.items()
    )


def systemd_units(model: BundleModel, opts: RecipeOptions, bundle: Path) -> tuple[list, dict]:
    """One unit per upstream, and edgekit-front.service that wants them all."""
    ups = upstreams(model, opts, str(bundle), opts.host)
    header = _header(model, _notes(model, opts))
    files: dict[str, str] = {}
    for i, u in enumerate(ups):
        what = f"{u.engine} {i + 1}/{len(ups)}" if len(ups) > 1 else u.engine
        unit = {"Description": f"{what} for edgekit {model.label}", "After": "network.target"}
        files[f"edgekit-{u.name}.service"] = header + _unit(
            unit, u.argv, u.env, opts.host, bundle, opts
        )
    front = _front(model, opts, bundle, ups)
    wants = " ".join(files)
    unit = {
        "Description": f"edgekit serve {model.label} in front of {len(ups)} upstream(s)",
        "Wants": wants,
        "After": f"network.target {wants}",
    }
    files[FRONT_UNIT] = header + _unit(unit, front, OFFLINE_ENV, opts.serve_host, bundle, opts)
    return [u.argv for u in ups] + [front], files


def recipe(bundle: Path, manifest: Manifest, opts: RecipeOptions) -> Recipe:
    """The launch recipe of ``opts.target`` for the bundle at ``bundle`` (absolute path)."""
    model = bundle_model(manifest, opts.gguf_type)
    _check(model, opts)
    bundle = Path(bundle)
    if opts.target == "compose":
        commands, text = compose_file(model, opts, bundle)
        files = {COMPOSE_FILE: text}
    elif opts.target == "systemd":
        commands, files = systemd_units(model, opts, bundle)
    else:
        commands, text = launch_lines(model, opts, bundle)
        files = {LAUNCH_FILE: text}
    return Recipe(opts.target, commands, files, _notes(model, opts))
