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


def test_final_markers_are_read_in_any_case_at_line_start() -> None:
    assert parse_reply("Final: None").final_text == "None"
    assert parse_reply("final: 1985").final_text == "1985"
    assert parse_reply("Done.\n**Final:** Jonas Moreau").final_text == "Jonas Moreau"
    assert parse_reply("final_var: answer").final_var == "answer"
    lower = parse_reply("Final: None")
    assert lower.code is None  # read as the marker, never run as an annotation
    fenced = parse_reply('```python\nx = 1\nfinal: "1985"\n```')
    assert (fenced.code, fenced.final_text) == ("x = 1", "1985")


def test_lower_case_final_inside_ordinary_code_stays_code() -> None:
    for program in (
        "final_answer = 3\nprint(final_answer)",
        "final: int = 3\nprint(final)",
        "final = compute()\nprint(final)",
        "final(3)",
    ):
        parsed = parse_reply(f"```python\n{program}\n```")
        assert (parsed.code, parsed.has_final) == (program, False), program
        bare = parse_reply(program)
        assert (bare.code, bare.has_final) == (program, False), program
    assert parse_reply("The final: answer is below").final_text is None
