"""Config validation: every error names the key and the file; shipped configs validate."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from conftest import REPO
from edgekit.cli import cli
from edgekit.config import EdgekitConfig, load_config, render_yaml
from edgekit.errors import ConfigError
from edgekit.init import init_project

EXAMPLES = sorted(REPO.glob("examples/*/edgekit.yaml"))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "edgekit.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("config", EXAMPLES, ids=lambda p: p.parent.name)
def test_example_configs_validate(config: Path):
    loaded = load_config(config)
    assert loaded.config.name
    assert loaded.config.docs is None or loaded.config.docs.is_dir()


def test_there_are_examples():
    assert any(p.parent.name == "mine-safety" for p in EXAMPLES)


def test_typo_key_exits_2_naming_key_and_file(tmp_path: Path):
    path = write(tmp_path, "name: demo\nmodel:\n  bsae: builtin:tiny-random\n")
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2
    assert "model.bsae" in result.output
    assert "unknown key" in result.output and "did you mean 'base'" in result.output
    assert str(path) in result.output


def test_wrong_type_and_bad_quant_type_named(tmp_path: Path):
    path = write(tmp_path, "name: demo\nprompt: {max_tokens: lots}\nquantize: {gguf: [Q9_X]}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    text = str(info.value)
    assert "prompt.max_tokens" in text and "quantize.gguf" in text and "Q9_X" in text


def test_missing_paths_are_named(tmp_path: Path):
    path = write(tmp_path, "name: demo\ndocs: nowhere\nmodel: {adapter: no-adapter}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "docs: directory does not exist" in str(info.value)
    assert "model.adapter" in str(info.value)


def test_missing_file_and_bad_yaml(tmp_path: Path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "absent.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "name: [unclosed\n"))
    with pytest.raises(ConfigError, match="name: required"):
        load_config(write(tmp_path, "version: 1.0.0\n"))


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path):
    (tmp_path / "docs").mkdir()
    cfg = load_config(write(tmp_path, "name: demo\ndocs: docs\n")).config
    assert cfg.docs == (tmp_path / "docs").resolve()
    assert cfg.bundle.out_dir == (tmp_path / "dist").resolve()


def test_rendered_yaml_round_trips_and_documents_every_key():
    cfg = EdgekitConfig(name="demo")
    text = render_yaml(cfg)
    assert EdgekitConfig.model_validate(yaml.safe_load(text)) == cfg
    for section in ("model", "quantize", "prompt", "bundle"):
        for name, field in type(getattr(cfg, section)).model_fields.items():
            assert field.description, f"{section}.{name} has no docstring"
            assert f"{name}:" in text


def test_init_writes_a_config_that_validates(tmp_path: Path):
    path = init_project(tmp_path / "Site One")
    loaded = load_config(path)
    assert loaded.config.name == "site-one"
    assert loaded.config.model.base == "builtin:smollm2-135m"
    assert any(loaded.config.docs.glob("*.md"))
    with pytest.raises(Exception, match="already exists"):
        init_project(tmp_path / "Site One")


def test_every_answer_setting_the_config_sets_reaches_the_bundle(tmp_path: Path):
    """The config's retrieval settings go into the bundle's answer settings as written:
    bm25_segmenter was left out, so the default overrode what the KB was built with."""
    from edgekit.pipeline.inputs import answer_settings

    config = init_project(tmp_path / "p", base="builtin:tiny-random")
    data = yaml.safe_load(config.read_text())
    data.setdefault("kb", {})["bm25_segmenter"] = "bigram"
    config.write_text(yaml.safe_dump(data))
    assert answer_settings(load_config(config)).bm25_segmenter == "bigram"
