"""A manual page (troff, e.g. /usr/share/man/zh_CN/man1/man.1.gz) as markdown, the way a
site engineer would hand man pages to `edgekit build`: rendered by groff (`groff-base`,
tables through tbl), the page's header and footer lines dropped, its sections (NAME,
描述, ...) as `##` headings, subsections as `###`, and each option's term line joined to
its description as one list item ("- -q, --quiet: 不显示警告。"). Used by bench/realdocs.py
for the Chinese set; not part of edgekit.

    python bench/man_markdown.py /usr/share/man/zh_CN/man1/man.1.gz > man.md
"""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
import sys
from pathlib import Path

_INDENT = re.compile(r"^( *)(.*?)\s*$")


def render(path: Path) -> str:
    """The page as text, lines not wrapped (groff -Tutf8, tbl, col -bx)."""
    if shutil.which("groff") is None:
        raise SystemExit("groff is needed to read man pages: apt-get install groff-base")
    data = path.read_bytes()
    source = gzip.decompress(data) if path.suffix == ".gz" else data
    text = subprocess.run(
        ["groff", "-t", "-k", "-Tutf8", "-mandoc", "-rLL=4000n"],
        input=source,
        capture_output=True,
        check=True,
    ).stdout
    plain = subprocess.run(["col", "-bx"], input=text, capture_output=True, check=True).stdout
    return plain.decode("utf-8", "replace")


def to_markdown(text: str, title: str = "") -> str:
    """Rendered man page text -> markdown (see the module doc); ``title``: its H1."""
    lines = [_INDENT.match(line).groups() for line in text.splitlines()]  # type: ignore[union-attr]
    body = [(len(indent), rest) for indent, rest in lines]
    filled = [i for i, (_, rest) in enumerate(body) if rest]
    if len(filled) >= 2:  # the page's header and footer lines
        body = body[filled[0] + 1 : filled[-1]]
    out: list[str] = [f"# {title}", ""] if title else []
    for k, (indent, rest) in enumerate(body):
        if not rest:
            out.append("")
        elif indent == 0:
            out += ["", f"## {rest}", ""]
        elif indent <= 4:
            out += ["", f"### {rest}", ""]
        elif _is_term(body, k):
            out.append(f"- {rest}:")
        elif out and out[-1].startswith("- ") and out[-1].endswith(":"):
            out[-1] += f" {rest}"
        else:
            out.append(f"`#`{rest[1:]}" if rest.startswith("#") else rest)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip() + "\n"


def _is_term(body: list[tuple[int, str]], k: int) -> bool:
    """An option's term line: the next line is indented deeper and carries its text."""
    indent, _ = body[k]
    nxt = body[k + 1] if k + 1 < len(body) else (0, "")
    return bool(nxt[1]) and nxt[0] > indent


def convert(path: Path, folder: Path) -> Path:
    """Write ``path`` as FOLDER/<page>.md (man.1.gz -> man.1.md); the file written."""
    name = path.name.removesuffix(".gz")
    target = folder / f"{name}.md"
    target.write_text(to_markdown(render(path), title=name))
    return target


if __name__ == "__main__":
    page = Path(sys.argv[1])
    sys.stdout.write(to_markdown(render(page), title=page.name.removesuffix(".gz")))
