from __future__ import annotations

from rlm_core.engine.parsing import parse_reply


def test_fenced_code_is_extracted() -> None:
    parsed = parse_reply("Let me look.\n```python\nprint(peek(10))\n```\nThen more.")
    assert parsed.code == "print(peek(10))"
    assert not parsed.has_final


def test_several_blocks_are_joined_and_other_languages_ignored() -> None:
    reply = "```python\na = 1\n```\n```bash\nls\n```\n```\nb = a + 1\n```"
    assert parse_reply(reply).code == "a = 1\nb = a + 1"


def test_final_text_and_final_var() -> None:
    assert parse_reply("FINAL: 42 apples").final_text == "42 apples"
    assert parse_reply("Done.\nFINAL_VAR: answer").final_var == "answer"
    assert parse_reply("**FINAL_VAR:** `result`").final_var == "result"
    assert parse_reply("FINAL(the answer)").final_text == "the answer"
    assert parse_reply("FINAL_VAR(result)").final_var == "result"


def test_final_inside_code_is_not_a_final() -> None:
    parsed = parse_reply('```python\nprint("FINAL: no")\n```')
    assert parsed.final_text is None
    assert parsed.code == 'print("FINAL: no")'


def test_unfenced_python_is_code_but_prose_is_not() -> None:
    assert parse_reply("x = peek(5)\nprint(x)").code == "x = peek(5)\nprint(x)"
    assert parse_reply("I think the answer is in the text.").code is None
    assert parse_reply("42").code is None


def test_code_and_final_together() -> None:
    parsed = parse_reply("```python\nanswer = 1\n```\nFINAL_VAR: answer")
    assert parsed.code == "answer = 1"
    assert parsed.final_var == "answer"
