"""Exceptions raised by library code. Only the CLI turns them into exit codes."""

from __future__ import annotations


class EdgekitError(Exception):
    """Base class: a problem the user can fix; the message says how."""

    exit_code = 1


class ConfigError(EdgekitError):
    """The config file is wrong. The message names the file and each bad key."""

    exit_code = 2

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{path}: invalid config\n{lines}")


class MissingDependencyError(EdgekitError):
    """An optional backend is not installed; the message has the install hint."""


class BundleError(EdgekitError):
    """A bundle is missing, malformed or fails verification."""


class ModelError(EdgekitError):
    """A model spec cannot be resolved or a model cannot be used as asked."""


class AuditError(EdgekitError):
    """An audit log or its key cannot be used as asked (wrong key, unreadable, damaged)."""
