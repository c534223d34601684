"""Reading a root-model reply: code blocks and final answers."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
# The ``FINAL:`` / ``FINAL_VAR:`` markers are read in any case (``Final: 1985``, ``final: x``)
# at the start of a line; the call forms ``FINAL(...)`` / ``FINAL_VAR(...)`` stay upper case,
# since a lower-case ``final(...)`` is ordinary code.
_FINAL_VAR = re.compile(
    r"^[ \t>*_]*(?:(?i:FINAL_VAR)[*_]*\s*:[*_]*\s*|FINAL_VAR[*_]*\s*\(\s*)"
    r"[`'\"]?([A-Za-z_][A-Za-z0-9_]*)",
    re.MULTILINE,
)
_FINAL_TEXT = re.compile(r"^[ \t>*_]*(?i:FINAL)[*_]*\s*:[*_]*\s*(.*)", re.MULTILINE | re.DOTALL)
_FINAL_CALL = re.compile(r"^[ \t>*_]*FINAL\((.*)\)\s*$", re.MULTILINE | re.DOTALL)
_CODE_LANGS = {"", "python", "py", "python3", "repl"}
# ``FINAL: x`` / ``FINAL_VAR: x`` written as a line of a code block: valid Python (an
# annotation that does nothing), so it must be read as the marker, never run.
_FENCED_MARKER = re.compile(r"^[ \t]*((?i:FINAL_VAR|FINAL))[ \t]*:(.*)", re.MULTILINE | re.DOTALL)


def _is_marker(match: re.Match[str], word: str) -> bool:
    """Whether a matched ``final:`` line is the marker rather than code.

    Upper case is always the marker. In other cases, a line that is an annotated
    assignment with a value (``final: int = 3``) is ordinary Python and stays code.
    """
    if word.isupper():
        return True
    line = match.string[match.start() :].split("\n", 1)[0].strip(" \t>*_")
    try:
        tree = ast.parse(line)
    except SyntaxError:
        return True
    return not (
        len(tree.body) == 1
        and isinstance(tree.body[0], ast.AnnAssign)
        and tree.body[0].value is not None
    )


def _first_marker(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    for match in pattern.finditer(text):
        word = re.match(r"[ \t>*_]*([A-Za-z_]+?)(?=[*_]*\s*[:(])", match.group(0))
        if word is None or _is_marker(match, word.group(1)):
            return match
    return None


@dataclass(frozen=True, slots=True)
class ParsedReply:
    """The parts of a reply the engine acts on."""

    code: str | None
    final_text: str | None
    final_var: str | None

    @property
    def has_final(self) -> bool:
        return self.final_text is not None or self.final_var is not None


def _strip_fences(text: str) -> str:
    return _FENCE.sub("", text)


def _final_of(prose: str) -> tuple[str | None, str | None]:
    var = _first_marker(_FINAL_VAR, prose)
    if var:
        return None, var.group(1)
    text = _first_marker(_FINAL_TEXT, prose)
    if text:
        return text.group(1).strip(), None
    call = _FINAL_CALL.search(prose)
    if call:
        return call.group(1).strip().strip("'\"").strip(), None
    return None, None


def _unquoted(text: str) -> str:
    """``text`` without the quotes of a string literal (``"1985"`` -> ``1985``)."""
    stripped = text.strip()
    try:
        value = ast.literal_eval(stripped)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return stripped
    return value if isinstance(value, str) else stripped


def _split_block(block: str) -> tuple[str, str | None, str | None]:
    """A code block as (code before a FINAL/FINAL_VAR marker line, final text, final var)."""
    marker = _first_marker(_FENCED_MARKER, block)
    if marker is None:
        return block, None, None
    code, kind, rest = block[: marker.start()], marker.group(1).upper(), marker.group(2)
    if kind == "FINAL_VAR":
        name = re.match(r"\s*[`'\"]?([A-Za-z_][A-Za-z0-9_]*)", rest)
        return code, None, name.group(1) if name else None
    return code, _unquoted(rest), None


def _looks_like_code(text: str) -> bool:
    stripped = text.strip()
    if not stripped:
        return False
    try:
        tree = ast.parse(stripped)
    except SyntaxError:
        return False
    # A bare name or constant ("42", "Yes") is prose, not a program.
    return not all(
        isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant | ast.Name)
        for node in tree.body
    )


def parse_reply(reply: str) -> ParsedReply:
    """Split a reply into code to run and/or a final answer.

    Fenced blocks (```python or bare ```) are code; FINAL markers are looked for
    outside fences, and as a ``FINAL:`` / ``FINAL_VAR:`` line inside a code block (the
    code before it still runs; the marker line never does). A reply with neither fences
    nor a FINAL marker that parses as Python is treated as code, so plain scripted
    replies work.
    """
    blocks: list[str] = []
    fenced_text: str | None = None
    fenced_var: str | None = None
    for lang, body in _FENCE.findall(reply):
        if lang.lower() not in _CODE_LANGS:
            continue
        body, text, var = _split_block(body)
        blocks.append(body)
        if fenced_text is None and fenced_var is None:
            fenced_text, fenced_var = text, var
    code = "\n".join(block.strip("\n") for block in blocks if block.strip()) or None
    final_text, final_var = _final_of(_strip_fences(reply))
    if final_text is None and final_var is None:
        final_text, final_var = fenced_text, fenced_var
    if code is None and final_text is None and final_var is None and _looks_like_code(reply):
        code = reply.strip()
    return ParsedReply(code=code, final_text=final_text, final_var=final_var)
