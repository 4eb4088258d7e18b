"""A sentence that names a thing of the type a "which <type>" question asks for.

Manuals name things with their type next to them: "The optional X-Python3-Version field
specifies the versions of Python 3 supported.", "the -c option", "the python3-all-dev
package", "the file Override.xml". Asked "Which field of the source paragraph specifies
the versions of Python 3 a package supports?", the sentence that says "<name> field" is
the answer even when another one shares more of the question's words ("The debian/control
source paragraph may contain optional fields to specify the versions ...").
:func:`names_type` tells whether a name stands right before or after the type word the
question asks for (command, option, flag, file, function, field, package, variable ...;
English questions only): code (edgekit.kb.span_patterns.CODE: paths, flags, identifiers,
file names), or a token with a capital after its first letter, a digit, '-', '_' or '.';
not one the question holds ("a libtasn1 function" asked "Which function ... libtasn1 ...?"),
and a flag only for an option ("the -dev packages" names no package).
"""

from __future__ import annotations

import re

from edgekit.kb.span_patterns import CODE, CODE_TYPES

# a name a manual gives: code (CODE), or a token with a capital inside, a digit, '-', '_' or '.'
_NAME = re.compile(r"(?<![\w.-])[A-Za-z0-9][\w.+-]*[\w+](?![\w-])")
_NAMED = re.compile(r"[A-Z0-9_.-]")

_TYPES = rf"{CODE_TYPES}|setting|directive|key"
_FLAG_TYPES = {"option", "flag", "switch", "argument", "parameter"}  # types a "-x" may name
_ASKS = re.compile(rf"\b(?:what|which)\s+(?:[\w-]+\s+){{0,2}}?({_TYPES})s?\b", re.IGNORECASE)


def asked_type(question: str) -> str | None:
    """The type word of a "which <type>" question ("field"), else None."""
    m = _ASKS.search(question)
    return m.group(1).lower() if m else None


def names_type(question: str, sentence: str) -> bool:
    """Whether ``sentence`` holds a code-like name right next to the type word the
    question asks for: "<name> field", "field <name>", "the <type> <name>"."""
    kind = asked_type(question)
    if kind is None:
        return False
    word = rf"{kind}s?\b"
    names = [m for m in _NAME.finditer(sentence) if _NAMED.search(m.group()[1:] or "_")]
    asked = question.lower()
    for m in [*CODE.finditer(sentence), *names]:
        if m.group().lower() in asked:  # "a libtasn1 function": the question's own context
            continue
        if m.group().startswith("-") and kind not in _FLAG_TYPES:  # "the -dev packages"
            continue
        after = sentence[m.end() :]
        before = sentence[: m.start()]
        if re.match(rf"\s+{word}", after, re.IGNORECASE):
            return True
        if re.search(rf"\b{word}\s+$", before, re.IGNORECASE):
            return True
    return False
