"""The prompt layer: the bundle's system prompt, expert rules, and tools.

Expert rules (YAML, shipped in the bundle) match the user's last message by keywords or
regular expressions and either add an instruction to the system prompt or answer with a
fixed reply without calling the model, e.g.:

    rules:
      - name: de-escalate
        keywords: [angry, furious, ridiculous]
        instruction: The worker is upset. Acknowledge that calmly before answering.
      - name: emergency
        patterns: ['(?i)\\b(fire|trapped|explosion)\\b']
        reply: If this is an emergency, call the Control Room on radio channel 1 now.

Tools (YAML + Python files in the bundle's tools/ folder) are OpenAI function tools whose
implementation ships with the bundle:

    tools:
      - name: convert_units
        description: Convert a value between units.
        parameters: {type: object, properties: {...}, required: [...]}
        entry: units:convert        # tools/units.py, function convert(**arguments)
"""

from __future__ import annotations

import importlib.util
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from edgekit.errors import EdgekitError


@dataclass(frozen=True)
class Rule:
    name: str
    keywords: tuple[str, ...] = ()
    patterns: tuple[re.Pattern[str], ...] = ()
    instruction: str | None = None
    reply: str | None = None

    def matches(self, text: str) -> bool:
        low = text.lower()
        return any(k.lower() in low for k in self.keywords) or any(
            p.search(text) for p in self.patterns
        )


def load_rules(path: Path | None) -> list[Rule]:
    if path is None or not path.is_file():
        return []
    data = yaml.safe_load(path.read_text()) or {}
    rules = []
    for i, r in enumerate(data.get("rules", [])):
        try:
            rule = Rule(
                name=str(r.get("name", f"rule{i + 1}")),
                keywords=tuple(r.get("keywords", [])),
                patterns=tuple(re.compile(p) for p in r.get("patterns", [])),
                instruction=r.get("instruction"),
                reply=r.get("reply"),
            )
        except (re.error, AttributeError, TypeError) as exc:
            raise EdgekitError(f"{path}: rule {i + 1} is invalid ({exc})") from None
        if not (rule.instruction or rule.reply):
            raise EdgekitError(f"{path}: rule {rule.name!r} needs an instruction or a reply")
        rules.append(rule)
    return rules


@dataclass
class RuleOutcome:
    fired: list[str] = field(default_factory=list)
    instructions: list[str] = field(default_factory=list)
    reply: str | None = None


def apply_rules(rules: list[Rule], text: str) -> RuleOutcome:
    out = RuleOutcome()
    for rule in rules:
        if rule.matches(text):
            out.fired.append(rule.name)
            if rule.reply and out.reply is None:
                out.reply = rule.reply
            if rule.instruction:
                out.instructions.append(rule.instruction)
    return out


@dataclass
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    function: Any

    def spec(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


def load_tools(folder: Path | None) -> dict[str, Tool]:
    """Tools declared in ``folder/tools.yaml`` with entry points in ``folder/*.py``."""
    if folder is None or not (folder / "tools.yaml").is_file():
        return {}
    data = yaml.safe_load((folder / "tools.yaml").read_text()) or {}
    tools = {}
    for t in data.get("tools", []):
        module, _, attr = str(t["entry"]).partition(":")
        file = folder / f"{module}.py"
        spec = importlib.util.spec_from_file_location(f"edgekit_bundle_tools.{module}", file)
        if spec is None or spec.loader is None or not file.is_file():
            raise EdgekitError(f"{folder}: tool {t['name']!r}: no {file.name}")
        mod = importlib.util.module_from_spec(spec)
        # no __pycache__ inside a verified bundle: it would be an unlisted file
        saved, sys.dont_write_bytecode = sys.dont_write_bytecode, True
        try:
            spec.loader.exec_module(mod)
        finally:
            sys.dont_write_bytecode = saved
        tools[t["name"]] = Tool(
            t["name"],
            t.get("description", ""),
            t.get("parameters", {"type": "object", "properties": {}}),
            getattr(mod, attr),
        )
    return tools
