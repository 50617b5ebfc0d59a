"""Text from the inputs in Markdown, made literal; and a table as a GitHub Markdown table."""

from __future__ import annotations

import re

import pandas as pd

from allocator.runformat.cells import format_cell, is_number

#: What Markdown (CommonMark, and GitHub's tables, strikethrough, maths and bare links) reads as markup anywhere in a line.
_MARKUP = re.compile(
    r"[\\`*\[\]<>|~$#]"  # escapes, code, emphasis, links and images, HTML and autolinks, cells, strikethrough, maths, headings
    r"|(?<![^\W_])_|_(?![^\W_])"  # an underscore that is not inside a word
    r"|&(?=#?\w+;)"  # a character reference
    r"|:(?=//)|(?<=\b[wW]{3})\.|@(?=[\w-]+\.\w)"  # bare links: scheme://, www., e-mail addresses
)
#: What Markdown reads as markup at the start of a line: a list item or a setext underline (escaped after the match).
_LINE_START = re.compile(r"^(?=[-+=])|^\d+(?=[.)])")


def escape_markdown(text: object, *, line_start: bool = False) -> str:
    """`text` from the inputs as literal Markdown on one line: every character that could make a link, an
    image, HTML, a heading, emphasis, maths or a new table cell is backslash-escaped, which any CommonMark
    renderer shows as the character itself. `line_start`: the text begins a line (a paragraph, a quote)."""
    escaped = _MARKUP.sub(lambda match: "\\" + match.group(), " ".join(str(text).split()))
    return _LINE_START.sub(lambda match: match.group() + "\\", escaped) if line_start else escaped


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub Markdown table: header, separator (numeric columns right-aligned), one row per row of `frame`."""
    header = [str(c) for c in frame.columns]
    rows = [[format_cell(v) for v in row] for row in frame.itertuples(index=False, name=None)]
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) or all(is_number(v) for v in frame[c]) for c in frame.columns]
    lines = ["| " + " | ".join(escape_markdown(h) for h in header) + " |",
             "|" + "|".join(" ---: " if n else " --- " for n in numeric) + "|"]
    lines += ["| " + " | ".join(escape_markdown(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
