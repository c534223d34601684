from __future__ import annotations

import pickle

import pytest

from rlm_core import Context, ContextError
from rlm_core.context import MAX_LISTED_DOCUMENTS, Chunk, DocumentChunk, Match


def test_from_text_keeps_the_same_string_object() -> None:
    text = "alpha beta gamma"
    ctx = Context.from_text(text)
    assert ctx.text is text
    assert ctx.len_chars() == len(text) == len(ctx)
    assert ctx.num_documents() == 1
    assert ctx.get_document(0) == text


def test_documents_are_joined_once_and_recoverable() -> None:
    docs = ["first doc", "second", "third one here"]
    ctx = Context.from_documents(docs)
    assert ctx.text == "\n\n---\n\n".join(docs)
    assert ctx.num_documents() == 3
    assert ctx.document_lengths() == [9, 6, 14]
    assert [ctx.get_document(i) for i in range(3)] == docs
    assert ctx.get_document(-1) == "third one here"
    custom = Context.from_documents(docs, separator="|")
    assert custom.text == "first doc|second|third one here"
    assert custom.get_document(1) == "second"


def test_get_document_out_of_range_says_how_many() -> None:
    with pytest.raises(IndexError, match="there are 2 documents"):
        Context.from_documents(["a", "b"]).get_document(5)


def test_wrong_types_are_clear_errors() -> None:
    with pytest.raises(ContextError, match="must be str"):
        Context.from_text(123)  # type: ignore[arg-type]
    with pytest.raises(ContextError, match="document 1 is int"):
        Context.from_documents(["ok", 5])  # type: ignore[list-item]
    with pytest.raises(ContextError, match=r"use Context\.from_text"):
        Context.from_documents("just a string")
    with pytest.raises(ContextError, match="got dict"):
        Context.coerce({"a": 1})


def test_slice_clamps() -> None:
    ctx = Context.from_text("0123456789")
    assert ctx.slice(2, 5) == "234"
    assert ctx.slice(-5, 3) == "012"
    assert ctx.slice(8, 100) == "89"


def test_find_plain_regex_and_case() -> None:
    ctx = Context.from_documents(["The Needle is here", "no needle there", "NEEDLE!"])
    plain = ctx.find("needle")
    assert [m.doc_index for m in plain] == [1]
    insensitive = ctx.find("needle", case_sensitive=False)
    assert [m.text for m in insensitive] == ["Needle", "needle", "NEEDLE"]
    assert [m.doc_index for m in insensitive] == [0, 1, 2]
    regex = ctx.find(r"n\w+e", regex=True)
    assert regex[0].text == "needle"
    assert len(ctx.find("e", max_matches=3)) == 3
    first = insensitive[0]
    assert ctx.text[first.start : first.end] == "Needle"
    assert "Needle" in first.snippet
    with pytest.raises(ValueError, match="non-empty"):
        ctx.find("")


def test_find_matches_unpack_as_start_end_text_and_keep_their_extras() -> None:
    ctx = Context.from_documents(["alpha needle", "beta needle"])
    found = ctx.find("needle")
    assert [(start, end, text) for start, end, text in found] == [
        (6, 12, "needle"),
        (24, 30, "needle"),
    ]
    assert found[0] == (6, 12, "needle")
    second = found[1]
    assert (second.start, second.end, second.text, second.doc_index) == (24, 30, "needle", 1)
    assert "beta needle" in second.snippet
    assert "doc_index=1" in repr(second)
    copy = pickle.loads(pickle.dumps(second))
    assert isinstance(copy, Match) and copy == second and copy.snippet == second.snippet


def test_chunk_with_overlap_covers_everything() -> None:
    ctx = Context.from_text("abcdefghij")
    assert ctx.chunk(4) == [(0, 4, "abcd"), (4, 8, "efgh"), (8, 10, "ij")]
    assert [str(piece) for piece in ctx.chunk(4, overlap=2)] == ["abcd", "cdef", "efgh", "ghij"]
    assert [piece.start for piece in ctx.chunk(4, overlap=2)] == [0, 2, 4, 6]
    for start, end, text in ctx.chunk(3):
        assert ctx.slice(start, end) == text
    piece = ctx.chunk(4)[1]
    assert isinstance(piece, Chunk) and piece.text == "efgh" and f"<{piece}>" == "<efgh>"
    assert pickle.loads(pickle.dumps(piece)) == piece
    with pytest.raises(ValueError, match="positive"):
        ctx.chunk(0)
    with pytest.raises(ValueError, match="overlap"):
        ctx.chunk(4, overlap=4)


def test_chunk_documents_groups_whole_documents() -> None:
    docs = [f"doc{i}" for i in range(5)]
    ctx = Context.from_documents(docs, separator="\n")
    groups = ctx.chunk_documents(2)
    assert groups == [(0, 2, ["doc0", "doc1"]), (2, 4, ["doc2", "doc3"]), (4, 5, ["doc4"])]
    first, end, documents = groups[1]
    assert documents == docs[first:end]
    assert [str(group) for group in groups] == ["doc0\ndoc1", "doc2\ndoc3", "doc4"]
    assert isinstance(groups[0], DocumentChunk) and groups[0].text == "doc0\ndoc1"
    assert pickle.loads(pickle.dumps(groups[0])).text == "doc0\ndoc1"
    with pytest.raises(ValueError):
        ctx.chunk_documents(0)


def test_metadata_has_the_pyrlm_keys_and_ours() -> None:
    single = Context.from_text("hello").metadata()
    assert single["context_type"] == "string"
    assert single["total_length"] == single["total_chars"] == 5
    assert single["num_documents"] == 1
    assert "document_lengths" not in single
    docs = Context.from_documents(["ab", "cde", ""]).metadata()
    assert docs["context_type"] == "document_list"
    assert docs["document_lengths"] == [2, 3, 0]
    assert docs["min_document_chars"] == 0
    assert Context.from_documents(["only one"]).metadata()["context_type"] == "document_list"
    many = Context.from_documents(["x"] * (MAX_LISTED_DOCUMENTS + 1)).metadata()
    assert "document_lengths" not in many
    assert many["num_documents"] == MAX_LISTED_DOCUMENTS + 1
    docs["document_lengths"].append(99)  # callers get a copy
    assert Context.from_documents(["ab", "cde", ""]).metadata()["document_lengths"] == [2, 3, 0]


def test_page_and_metadata_without_content() -> None:
    ctx = Context.from_documents(["x" * 5000, "y" * 3000])
    assert ctx.page(0) == "x" * 4000
    assert ctx.num_pages() == 3
    with pytest.raises(IndexError, match="3 pages"):
        ctx.page(3)
    meta = ctx.metadata()
    assert meta["total_chars"] == ctx.len_chars()
    assert meta["num_documents"] == 2
    assert meta["max_document_chars"] == 5000
    assert "xxx" not in str(meta) and "yyy" not in str(meta)
