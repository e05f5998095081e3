"""Text that came from a submission (file names, ids, anything its code chose), made safe where it is shown.

On the instructor's terminal, control characters (escape sequences, carriage returns that overwrite a
line) are shown as escapes; in Markdown (feedback, report.md, similarity.md, Gradescope's results), they
are dropped and Markdown and HTML syntax is escaped, so that the text reads as what it is.
"""
from __future__ import annotations

import html
import re
import unicodedata

MARKDOWN_SYNTAX = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


def _control(character: str) -> bool:
    return unicodedata.category(character) in ("Cc", "Cf", "Zl", "Zp") and character != "\n"


def terminal(text: str) -> str:
    """`text` with every control or format character shown as a Python escape (`\\x1b`, `\\u202e`)."""
    return "".join(c.encode("unicode_escape").decode("ascii") if _control(c) else c for c in text)


def markdown(text: str) -> str:
    """`text` on one line, without control characters, with Markdown and HTML syntax escaped."""
    flat = "".join(" " if c == "\n" else c for c in text if not _control(c))
    return MARKDOWN_SYNTAX.sub(r"\\\1", html.escape(flat, quote=False))
