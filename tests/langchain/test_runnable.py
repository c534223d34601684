"""RLMRunnable in LCEL pipelines, with LangChain fake chat models as root and sub-models."""

from __future__ import annotations

import pytest
from langchain_core.documents import Document
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import ConfigurableField, RunnablePassthrough

from rlm_core import Policy, Trace
from rlm_langchain import RLMProgress, RLMResult, RLMRunnable

from .conftest import (
    CONTEXT,
    DOCS,
    SUB_PREFIX,
    KeywordRetriever,
    Recorder,
    async_scripted,
    fenced,
    scripted,
)

GREP = fenced("print(grep('vault code', window=20))")


def test_invoke_with_context_answers_from_repl_output() -> None:
    root = scripted(GREP, "FINAL: 4711")
    rlm = RLMRunnable(llm=root, context=CONTEXT)
    assert rlm.invoke("What is the vault code?") == "4711"


def test_final_var_reads_a_repl_variable() -> None:
    code = fenced("import re\ncode = re.search(r'vault code is (\\d+)', P).group(1)")
    rlm = RLMRunnable(llm=scripted(code + "\nFINAL_VAR: code"), context=CONTEXT)
    assert rlm.invoke("vault code?") == "4711"


def test_prompt_template_chain_uses_prompt_text_as_query(recorder: Recorder) -> None:
    root = scripted(GREP, "FINAL: 4711")
    rlm = RLMRunnable(llm=root, context=CONTEXT)
    chain = ChatPromptTemplate.from_template("Find the {thing}.") | rlm | StrOutputParser()
    assert chain.invoke({"thing": "vault code"}, config={"callbacks": [recorder]}) == "4711"
    first = next(iter(recorder.prompts.values()))
    assert first[1].content.startswith("Question: Find the vault code.\n")


def test_chat_prompt_roles_reach_the_root_as_system_text_and_turns(recorder: Recorder) -> None:
    """A prompt template's system message and history are not flattened into the query."""
    prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "Be brief."),
            ("human", "What is in chapter 1?"),
            ("ai", "A quiet harbour."),
            ("human", "{question}"),
        ]
    )
    rlm = RLMRunnable(llm=scripted(GREP, "FINAL: 4711"), sub_llm=scripted("sub"), context=CONTEXT)
    chain = prompt | rlm
    assert chain.invoke({"question": "And the code?"}, config={"callbacks": [recorder]}) == "4711"
    root_calls = [messages for messages in recorder.prompts.values()]
    first = root_calls[0]
    assert [type(message).__name__ for message in first] == [
        "SystemMessage",
        "HumanMessage",
        "AIMessage",
        "HumanMessage",
    ]
    assert first[0].content.endswith("Instructions from the conversation:\nBe brief.")
    assert first[1].content == "What is in chapter 1?"
    assert first[2].content == "A quiet harbour."
    assert first[3].content.startswith("Question: And the code?\n")
    assert "Human:" not in first[3].content and "System:" not in first[3].content


def test_rag_chain_passes_retrieved_documents_as_context() -> None:
    retriever = KeywordRetriever(documents=DOCS, k=2)
    code = fenced("print(ctx.num_documents()); print(grep('1969'))")
    rlm = RLMRunnable(llm=scripted(code, "FINAL: 1969"), return_trace=True)
    chain = {"query": RunnablePassthrough(), "context": retriever} | rlm
    result = chain.invoke("When was the moon landing?")
    assert isinstance(result, RLMResult)
    assert result.answer == "1969"
    assert result.documents[0].id == "moon"
    exec_steps = result.trace.of_kind("repl_exec")
    assert exec_steps[0].stdout is not None and exec_steps[0].stdout.startswith("2\n")


def test_sub_model_answers_sub_calls() -> None:
    code = fenced("answer = llm_query('What is the code? ' + P[-200:])\nprint(answer)")
    root = scripted(code, "FINAL: 4711")
    sub = scripted("4711")
    rlm = RLMRunnable(llm=root, sub_llm=sub, context=CONTEXT).with_trace()
    result = rlm.invoke("code?")
    subcalls = result.trace.of_kind("subcall")
    assert len(subcalls) == 1 and subcalls[0].response == "4711"
    assert result.usage["total_tokens"] == result.trace.usage.total_tokens > 0


def test_result_object_carries_trace_usage_and_documents() -> None:
    rlm = RLMRunnable(llm=scripted(GREP, "FINAL: 4711"), return_trace=True)
    result = rlm.invoke({"query": "code?", "context": [DOCS[0], "plain text"]})
    assert isinstance(result.trace, Trace) and len(result.trace) == 3
    assert result.documents == [DOCS[0]]
    assert str(result) == "4711"
    assert rlm.get_output_schema().__name__ == "RLMResult"


def test_rlm_options_are_passed_to_the_core() -> None:
    root = scripted("no code here")  # never gives code or FINAL
    rlm = RLMRunnable(
        llm=root, context=CONTEXT, policy=Policy(max_steps=2), invalid_response_limit=5
    )
    assert rlm.rlm_options["policy"].max_steps == 2
    # max_steps=2 then the engine asks once more for a best answer: "no code here"
    assert rlm.invoke("q") == "no code here"
    assert root.i == 0  # 3 calls on a 1-reply cycle


def test_stream_yields_progress_then_answer() -> None:
    rlm = RLMRunnable(llm=scripted(GREP, "FINAL: 4711"), context=CONTEXT)
    chunks = list(rlm.stream("code?"))
    progress = [c for c in chunks if isinstance(c, RLMProgress)]
    text = [c for c in chunks if not isinstance(c, RLMProgress)]
    assert "".join(text) == "4711" and text
    types = [p.type for p in progress]
    assert types[0] == "run_start" and types[-1] == "run_end"
    assert "step_start" in types and "step_end" in types
    kinds = [p.payload["kind"] for p in progress if p.type == "step_start"]
    assert kinds == ["root_call", "repl_exec", "root_call"]
    assert "".join(chunks) == "4711"


def test_stream_through_str_output_parser() -> None:
    rlm = RLMRunnable(llm=scripted(GREP, "FINAL: 4711"), context=CONTEXT)
    chain = ChatPromptTemplate.from_template("{q}") | rlm | StrOutputParser()
    assert "".join(chain.stream({"q": "code?"})) == "4711"


async def test_astream_and_ainvoke() -> None:
    rlm = RLMRunnable(llm=scripted(GREP, "FINAL: 4711"), context=CONTEXT)
    chunks = [chunk async for chunk in rlm.astream("code?")]
    assert isinstance(chunks[0], RLMProgress) and "".join(chunks) == "4711"
    assert await rlm.ainvoke("code?") == "4711"


async def test_ainvoke_never_takes_the_sync_model_path() -> None:
    code = fenced("print(llm_batch(['a ' + P[:10], 'b ' + P[-10:]]))")
    root = async_scripted(code, "FINAL: 4711")
    rlm = RLMRunnable(
        llm=root, sub_llm=async_scripted("x"), context=CONTEXT, parallel_subcalls=True
    )
    assert await rlm.ainvoke("code?") == "4711"
    with pytest.raises(AssertionError, match="sync model path"):
        RLMRunnable(llm=async_scripted("FINAL: no"), context=CONTEXT).invoke("q")


def test_batch_and_abatch_run_independent_queries() -> None:
    reply = fenced("print(lenP())") + "\nFINAL: done"
    rlm = RLMRunnable(llm=scripted(reply), context=CONTEXT)
    assert rlm.batch(["a", "b", "c"]) == ["done", "done", "done"]


async def test_abatch() -> None:
    rlm = RLMRunnable(llm=scripted("FINAL: ok"), context=CONTEXT)
    assert await rlm.abatch(["a", {"query": "b", "context": "x"}]) == ["ok", "ok"]


def test_configurable_fields_swap_the_root_model() -> None:
    rlm = RLMRunnable(llm=scripted("FINAL: first"), context=CONTEXT).configurable_fields(
        llm=ConfigurableField(id="root_llm")
    )
    assert rlm.invoke("q") == "first"
    other = scripted("FINAL: second")
    assert rlm.invoke("q", config={"configurable": {"root_llm": other}}) == "second"


def test_as_tool_takes_only_the_question_and_keeps_the_configured_context(
    recorder: Recorder,
) -> None:
    rlm = RLMRunnable(llm=scripted(GREP, "FINAL: 4711"), context=CONTEXT)
    tool = rlm.as_tool(name="search_book", description="Answer questions about the book")
    assert set(tool.args) == {"query"}
    assert tool.tool_call_schema.model_json_schema()["required"] == ["query"]
    # An agent's model that sends a context anyway cannot replace the configured one.
    call = {
        "name": "search_book",
        "args": {"query": "What is the vault code?", "context": "The vault code is 0000."},
        "id": "call-1",
        "type": "tool_call",
    }
    reply = tool.invoke(call, config={"callbacks": [recorder]})
    assert reply.content == "4711"
    outputs = [
        (data.get("step") or {}).get("stdout") or ""
        for name, data, _ in recorder.custom
        if name == "rlm.step_end"
    ]
    assert any("The vault code is 4711" in out for out in outputs)
    assert not any("0000" in out for out in outputs)


def test_sub_call_system_prompt_reaches_the_sub_model(recorder: Recorder) -> None:
    code = fenced("print(llm_query('code? ' + P[:50]))")
    rlm = RLMRunnable(llm=scripted(code, "FINAL: x"), sub_llm=scripted("4711"), context=CONTEXT)
    rlm.invoke("q", config={"callbacks": [recorder]})
    firsts = [messages[0].content for messages in recorder.prompts.values()]
    assert sum(text.startswith(SUB_PREFIX) for text in firsts) == 1
    assert len(firsts) == 3


def test_documents_list_context_accepts_documents() -> None:
    rlm = RLMRunnable(llm=scripted(fenced("print(ctx.num_documents())") + "\nFINAL: ok"))
    result = rlm.with_trace().invoke({"query": "q", "context": DOCS})
    assert result.trace.steps[1].stdout == "4\n"
    assert [doc.page_content for doc in result.documents] == [d.page_content for d in DOCS]


def test_retriever_at_construction_is_searchable_from_the_repl() -> None:
    code = fenced(
        "hits = es_search('moon landing', top_k=2)\nprint(es_get(hits[0]['doc_id'])['content'])"
    )
    rlm = RLMRunnable(
        llm=scripted(code, "FINAL: 1969"),
        retriever=KeywordRetriever(documents=DOCS),
        return_trace=True,
    )
    result = rlm.invoke("When was the moon landing?")
    assert result.answer == "1969"
    assert "1969" in (result.trace.steps[1].stdout or "")
    assert {doc.id for doc in result.documents} >= {"moon"}


def test_dict_input_passes_document_for_context_alias() -> None:
    rlm = RLMRunnable(llm=scripted("FINAL: ok"))
    assert rlm.invoke({"query": "q", "context": [Document(page_content="text")]}) == "ok"
