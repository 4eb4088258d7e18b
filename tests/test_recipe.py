"""`edgekit bundle recipe`: launch commands for vLLM / llama-server upstreams with
`edgekit serve --engine` in front, as command lines, docker-compose.yml and systemd units.
The built tiny bundle (no GPTQ) and a small written bundle with a GPTQ entry."""

from __future__ import annotations

import configparser
import re
import shlex
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from serving import free_port

from conftest import run_cli
from edgekit.bundle import manifest as mf
from edgekit.bundle.answer_settings import AnswerSettings
from edgekit.bundle.meta import (
    BundleMeta,
    Manifest,
    ModelEntry,
    ModelRef,
    ProvenanceEntry,
    RuntimeEntry,
    gptq_entry,
)
from edgekit.bundle.recipe import RecipeOptions, recipe
from edgekit.bundle.verify import verify
from edgekit.bundle.writer import BundleWriter
from edgekit.errors import BundleError
from edgekit.fsutil import sha256_tree

LLAMA_SERVER = Path.home() / ".cache" / "edgekit" / "llama-server-0.3.36" / "llama-server"


@pytest.fixture(scope="module")
def tiny_bundle(tiny_project) -> Path:
    return tiny_project[1].bundle


@pytest.fixture(scope="module")
def gptq_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bundle as the build writes one with `quantize: {gptq: ...}` (GGUF + model/gptq/);
    the weights are stand-ins: recipes read the manifest, never the weights."""
    w = BundleWriter(tmp_path_factory.mktemp("gptq") / "mine-2.0").open()
    w.add_bytes(b"GGUF stand-in", "model/mine-Q8_0.gguf")
    w.add_bytes(b'{"quantization_config": {"quant_method": "gptq"}}', f"{mf.GPTQ_DIR}/config.json")
    w.add_bytes(b"weights", f"{mf.GPTQ_DIR}/model.safetensors")
    meta = BundleMeta(
        edgekit_version="0.1.0",
        created="2026-01-01T00:00:00+00:00",
        name="mine",
        version="2.0",
        base_model=ModelRef("builtin:tiny-random", "0" * 64),
        adapter=None,
        models=[ModelEntry("model/mine-Q8_0.gguf", "Q8_0", 13)],
        gptq=gptq_entry(7, {"label": "GPTQ-W4G64", "bits": 4, "group_size": 64}),
        kb=None,
        training=None,
        provenance=ProvenanceEntry("0" * 64, "0" * 64, None, None, None, None),
        experts=[],
        eval_sets=[],
        runtime=RuntimeEntry("", 256, 0.2, 3072, {}, {}),
    )
    w.finalize(meta.to_json())
    return w.commit(tar=False)


def command_lines(text: str) -> list[list[str]]:
    """Each command line's argv, without leading VAR=value environment words."""
    out = []
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            words = shlex.split(line)
            while re.fullmatch(r"[A-Z_]+=.*", words[0]):
                words.pop(0)
            out.append(words)
    return out


def value(argv: list[str], flag: str) -> str:
    assert argv.count(flag) == 1, (flag, argv)
    return argv[argv.index(flag) + 1]


def test_llama_server_replicas_and_edgekit_in_front(tiny_bundle: Path):
    before = sha256_tree(tiny_bundle)
    proc = run_cli(
        "bundle", "recipe", str(tiny_bundle), "--for", "llama-server", "--replicas", "3",
        "--port", "9101", "--slots", "2", "--threads", "1", check=True,
    )  # fmt: skip
    lines = command_lines(proc.stdout)
    assert len(lines) == 4, proc.stdout
    meta = Manifest.read(tiny_bundle)
    n_ctx = AnswerSettings.from_manifest(meta.data).n_ctx
    gguf = str(tiny_bundle.resolve() / meta.model_path())
    for port, argv in zip((9101, 9102, 9103), lines[:3], strict=True):
        assert argv[0] == "llama-server" and value(argv, "-m") == gguf
        assert value(argv, "--host") == "127.0.0.1" and value(argv, "--port") == str(port)
        assert value(argv, "-np") == "2" and value(argv, "-c") == str(2 * n_ctx)
        assert value(argv, "-t") == "1" and value(argv, "-ngl") == "0"
        # edgekit's exact attention: flash attention, f16 K cache, bf16 V cache
        assert (value(argv, "-fa"), value(argv, "-ctk"), value(argv, "-ctv")) == (
            "on",
            "f16",
            "bf16",
        )
        assert "--jinja" in argv and value(argv, "--alias") == meta.label
    front = lines[3]
    assert Path(front[0]).name == "edgekit" and front[1:3] == ["serve", str(tiny_bundle.resolve())]
    assert value(front, "--engine") == ",".join(f"http://127.0.0.1:{p}" for p in (9101, 9102, 9103))
    assert value(front, "--port") == "8080" and value(front, "--host") == "127.0.0.1"
    assert sha256_tree(tiny_bundle) == before and verify(tiny_bundle).ok  # only read

    clash = run_cli("bundle", "recipe", str(tiny_bundle), "--for", "llama-server",
                    "--replicas", "2", "--port", "8079")  # fmt: skip
    assert clash.returncode == 1 and "distinct" in clash.stderr


def test_compose_file_parses_with_the_services(tiny_bundle: Path, tmp_path: Path):
    out = tmp_path / "site"
    proc = run_cli(
        "bundle", "recipe", str(tiny_bundle), "--for", "compose", "--replicas", "2",
        "--out", str(out), check=True,
    )  # fmt: skip
    path = out / "docker-compose.yml"
    assert proc.stdout.strip() == f"wrote {path}"
    text = path.read_text()
    assert "# set by the site" in text  # the image placeholder's comment
    services = yaml.safe_load(text)["services"]
    assert list(services) == ["llama-1", "llama-2", "edgekit"]
    inside = f"/srv/edgekit/{tiny_bundle.name}"
    mount = f"{tiny_bundle.resolve()}:{inside}:ro"
    for name in ("llama-1", "llama-2"):
        up = services[name]
        assert up["image"].startswith("${LLAMA_SERVER_IMAGE:?") and up["pull_policy"] == "never"
        assert up["volumes"] == [mount] and "ports" not in up  # reachable by edgekit only
        argv = up["entrypoint"] + up["command"]
        assert value(argv, "--host") == "0.0.0.0" and value(argv, "-m").startswith(inside)
        assert (value(argv, "-ctk"), value(argv, "-ctv")) == ("f16", "bf16")
    front = services["edgekit"]
    assert front["image"].startswith("${EDGEKIT_IMAGE:?") and mount in front["volumes"]
    assert front["depends_on"] == ["llama-1", "llama-2"]
    assert front["ports"] == ["127.0.0.1:8080:8080"]
    argv = front["entrypoint"] + front["command"]
    assert argv[:3] == ["edgekit", "serve", inside]  # the image's edgekit, not this host's
    assert value(argv, "--engine") == "http://llama-1:8081,http://llama-2:8082"


def test_systemd_units_parse_and_read_the_bundle_only(tiny_bundle: Path, tmp_path: Path):
    run_cli(
        "bundle", "recipe", str(tiny_bundle), "--for", "systemd", "--replicas", "2",
        "--llama-server", "/opt/llama/bin/llama-server", "--user", "edgekit",
        "--out", str(tmp_path), check=True,
    )  # fmt: skip
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["edgekit-front.service", "edgekit-llama-1.service", "edgekit-llama-2.service"]
    units = {}
    for name in names:
        unit = configparser.ConfigParser(strict=True, interpolation=None)
        unit.optionxform = str  # type: ignore[assignment,method-assign]
        unit.read_string((tmp_path / name).read_text())
        assert unit.sections() == ["Unit", "Service", "Install"], name
        assert unit["Service"]["ReadOnlyPaths"] == str(tiny_bundle.resolve())
        assert unit["Service"]["User"] == "edgekit"
        assert unit["Service"]["IPAddressDeny"] == "any"  # loopback only
        units[name] = unit
    ports = set()
    for name in ("edgekit-llama-1.service", "edgekit-llama-2.service"):
        argv = shlex.split(units[name]["Service"]["ExecStart"])
        assert argv[0] == "/opt/llama/bin/llama-server" and value(argv, "-fa") == "on"
        ports.add(value(argv, "--port"))
    assert ports == {"8081", "8082"}
    front = units["edgekit-front.service"]
    assert front["Unit"]["Wants"] == "edgekit-llama-1.service edgekit-llama-2.service"
    argv = shlex.split(front["Service"]["ExecStart"])
    assert argv[1:3] == ["serve", str(tiny_bundle.resolve())]
    assert value(argv, "--engine") == "http://127.0.0.1:8081,http://127.0.0.1:8082"


def test_vllm_needs_a_gptq_checkpoint_and_says_how(tiny_bundle: Path):
    proc = run_cli("bundle", "recipe", str(tiny_bundle), "--for", "vllm")
    assert proc.returncode == 1 and proc.stdout == ""
    error = " ".join(proc.stderr.split())
    assert "no GPTQ checkpoint" in error and "quantize: {gptq: {bits: 4" in error
    assert "--for llama-server" in error and "experimental" in error
    gguf = run_cli(
        "bundle", "recipe", str(tiny_bundle), "--for", "vllm", "--experimental-gguf", check=True
    )
    assert "EXPERIMENTAL" in gguf.stdout
    vllm = command_lines(gguf.stdout)[0]
    assert vllm[:3] == ["vllm", "serve", str(tiny_bundle.resolve() / Manifest.read(
        tiny_bundle).model_path())] and "--quantization" not in vllm  # fmt: skip


def test_vllm_on_the_gptq_checkpoint(gptq_bundle: Path):
    meta = Manifest.read(gptq_bundle)
    opts = RecipeOptions(target="vllm", gpus=2, port=8000, serve_port=9000)
    vllm, front = recipe(gptq_bundle, meta, opts).commands
    assert vllm[:3] == ["vllm", "serve", f"{gptq_bundle}/{mf.GPTQ_DIR}"]
    assert value(vllm, "--quantization") == "gptq" and value(vllm, "--dtype") == "float16"
    assert value(vllm, "--served-model-name") == "mine-2.0"
    assert value(vllm, "--max-model-len") == "3072"
    assert value(vllm, "--tensor-parallel-size") == "2" and value(vllm, "--port") == "8000"
    assert value(front, "--engine") == "http://127.0.0.1:8000" and value(front, "--port") == "9000"
    text = recipe(gptq_bundle, meta, opts).text()
    assert [vllm, front] == command_lines(text) and "VLLM_NO_USAGE_STATS=1" in text

    compose = recipe(gptq_bundle, meta, RecipeOptions(target="compose", upstream="vllm", gpus=2))
    services = yaml.safe_load(compose.files["docker-compose.yml"])["services"]
    assert list(services) == ["vllm", "edgekit"]
    gpu = services["vllm"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["count"] == 2 and gpu["capabilities"] == ["gpu"]
    assert services["vllm"]["environment"]["HF_HUB_OFFLINE"] == "1"
    with pytest.raises(BundleError, match="no GPTQ"):  # the same bundle without its GPTQ
        recipe(gptq_bundle, Manifest({**meta.data, mf.K_GPTQ: None}), opts)


@pytest.mark.skipif(not LLAMA_SERVER.is_file(), reason=f"no llama-server at {LLAMA_SERVER}")
def test_every_llama_server_flag_is_known_and_the_server_starts(tiny_bundle: Path):
    """Each flag of the recipe is in the pinned llama.cpp's `llama-server --help`, and the
    first replica's exact command line serves the bundle's GGUF."""
    help_text = subprocess.run(
        [str(LLAMA_SERVER), "--help"], capture_output=True, text=True, timeout=60
    ).stdout
    port = free_port()
    opts = RecipeOptions(target="llama-server", llama_server=str(LLAMA_SERVER), port=port)
    argv = recipe(tiny_bundle.resolve(), Manifest.read(tiny_bundle), opts).commands[0]
    for flag in (a for a in argv[1:] if a.startswith("-")):
        assert re.search(rf"(^|[\s,]){re.escape(flag)}([\s,=]|$)", help_text, re.M), flag
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 90
        while time.time() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        assert server.poll() is None, server.communicate()[1][-3000:]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=5) as r:
            assert Manifest.read(tiny_bundle).label in r.read().decode()
    finally:
        server.kill()
        server.wait()
