"""Click options made from a typed settings dataclass: each setting is spelled once, in its
field (name, type, default, help in the field's metadata), and the command receives the
values as keywords for the settings class.

    @options_from(ServeSettings)
    def serve(bundle, **values): settings = ServeSettings(bundle, **values)
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

_PATH_KEYS = ("exists", "dir_okay", "file_okay", "readable", "writable")


def options_from(cls: type, skip: tuple[str, ...] = ()) -> Callable[[Any], Any]:
    """A decorator adding one click option per field of dataclass ``cls`` (in field order),
    except fields marked ``cli: False`` and those named in ``skip``."""
    hints = typing.get_type_hints(cls)
    fields = [
        f for f in dataclasses.fields(cls) if f.metadata.get("cli", True) and f.name not in skip
    ]

    def decorate(command: Any) -> Any:
        for f in reversed(fields):  # click applies decorators bottom-up
            command = field_option(f, hints[f.name])(command)
        return command

    return decorate


def field_option(f: dataclasses.Field, hint: Any) -> Callable[[Any], Any]:
    """The click option of one settings field."""
    meta = f.metadata
    flags = tuple(meta.get("flags") or ("--" + f.name.replace("_", "-"),))
    extra = dict(meta.get("click") or {})
    kind = _value_type(hint)
    kw: dict[str, Any] = {"help": meta.get("help"), "default": f.default}
    if kind is bool:
        kw["is_flag"] = True
    elif kind is Path:
        path_kw = {k: extra.pop(k) for k in _PATH_KEYS if k in extra}
        kw["type"] = click.Path(path_type=Path, **path_kw)
    else:
        kw["type"] = kind
        kw["show_default"] = f.default is not None
    return click.option(*flags, f.name, **kw, **extra)


def _value_type(hint: Any) -> type:
    """``int`` for ``int | None``, and so on: the one non-None type of a field."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        (kind,) = [a for a in args if a is not type(None)]
        return kind
    return hint
