"""The root loop, written once as a generator of effects.

The loop never performs I/O itself: it yields ``ModelCall`` and ``ExecCall``
effects and receives their results. ``drive`` (sync) and ``adrive`` (async)
perform the effects, so ``run`` and ``arun`` share every rule of the loop.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from rlm_core.adapters.base import Message, ModelAdapter, ModelResponse, check_response, model_id_of
from rlm_core.engine import prompts
from rlm_core.engine.history import History
from rlm_core.engine.parsing import ParsedReply, parse_reply
from rlm_core.engine.settings import RunState
from rlm_core.engine.structured import OutputInvalid, OutputSpec
from rlm_core.engine.toolkit import FinalCall, Toolkit, is_no_answer
from rlm_core.errors import AdapterError, OutputValidationError, PolicyError, RLMError
from rlm_core.repl.base import REPL, ExecResult
from rlm_core.trace import TraceStep


@dataclass(frozen=True, slots=True)
class ModelCall:
    adapter: ModelAdapter
    messages: list[Message]
    max_tokens: int
    temperature: float
    step: TraceStep | None = None


@dataclass(frozen=True, slots=True)
class ExecCall:
    code: str


Effect = ModelCall | ExecCall
LoopGen = Generator[Effect, Any, Any]
_UNSET = object()
NO_ANSWER = "No answer found: the run ended without a final answer."
"""The answer of a run that ended with nothing to say (``trace.metadata["no_answer"]``)."""


class _OverBudget(Exception):
    """A model reply arrived, but its tokens used up a budget (the reply is kept)."""

    def __init__(self, error: PolicyError, reply: str) -> None:
        super().__init__(str(error))
        self.error = error
        self.reply = reply


class RootLoop:
    """One root (or recursive sub-) conversation over one REPL."""

    def __init__(
        self,
        state: RunState,
        repl: REPL,
        toolkit: Toolkit,
        adapter: ModelAdapter,
        *,
        depth: int = 0,
        parent_id: int | None = None,
    ) -> None:
        self.state = state
        self.settings = state.settings
        self.repl = repl
        self.toolkit = toolkit
        self.adapter = adapter
        self.depth = depth
        self.parent_id = parent_id
        self.call_kind = "root_call" if depth == 0 else "sub_root_call"
        self.exec_kind = "repl_exec" if depth == 0 else "sub_repl_exec"
        self.repl_ran = False
        self.invalid_replies = 0
        self.query = ""
        self.last_reply = ""
        # Where compaction keeps the full transcript; a session's turns use "transcript",
        # since their ``history`` lists the earlier turns.
        self.transcript_variable = "history"
        self.final_value: Any = _UNSET
        self.history: History | None = None

    # -- effects with their trace steps ------------------------------------------------------
    def _model(
        self, messages: list[Message], max_tokens: int, *, purpose: str, account: bool = True
    ) -> Generator[Effect, Any, str]:
        state = self.state
        step = state.new_step(
            self.call_kind,
            depth=self.depth,
            parent_id=self.parent_id,
            prompt=messages[-1]["content"],
            model=model_id_of(self.adapter),
            metadata={"purpose": purpose},
        )
        try:
            raw = yield ModelCall(
                self.adapter, messages, max_tokens, self.settings.temperature, step
            )
            response: ModelResponse = check_response(raw, self.adapter)
        except BaseException as error:
            step.error = f"{type(error).__name__}: {error}"
            state.end_step(step)
            if isinstance(error, Exception) and not isinstance(error, RLMError):
                raise AdapterError(
                    f"{type(self.adapter).__name__} failed: {type(error).__name__}: {error}"
                ) from error
            raise
        step.response = response.text
        step.usage = response.usage
        self.last_reply = response.text
        state.end_step(step)
        try:
            cost = state.budget.add_usage(
                response.usage, subcall=False, model=model_id_of(self.adapter)
            )
            if cost is not None:
                step.metadata["cost_usd"] = cost
        except PolicyError as error:
            if account:
                raise _OverBudget(error, response.text) from error
        return response.text

    def _exec(self, code: str, *, purpose: str = "step") -> Generator[Effect, Any, ExecResult]:
        state = self.state
        step = state.new_step(
            self.exec_kind,
            depth=self.depth,
            parent_id=self.parent_id,
            code=code,
            metadata={"purpose": purpose},
        )
        self.toolkit.parent_step_id = step.step_id
        self.toolkit.final = None
        try:
            result: ExecResult = yield ExecCall(code)
        except BaseException as error:
            step.error = f"{type(error).__name__}: {error}"
            state.end_step(step)
            raise
        step.stdout = result.stdout
        step.error = result.error
        step.metadata["truncated"] = result.truncated
        state.end_step(step)
        self.repl_ran = True
        with contextlib.suppress(PolicyError):  # remembered in budget.exhausted
            state.budget.record_exec(result.ok)
        return result

    # -- the loop ----------------------------------------------------------------------------
    def run(
        self,
        query: str,
        metadata: dict[str, Any] | None,
        *,
        note: str | None = None,
        output: OutputSpec | None = None,
    ) -> LoopGen:
        """The answer to ``query``: a str, or with ``output`` the validated value."""
        answer = yield from self._conversation(query, metadata, note, output)
        if output is None:
            return self._never_silent(answer)
        return (yield from self._structured(answer, output))

    def _conversation(
        self,
        query: str,
        metadata: dict[str, Any] | None,
        note: str | None,
        output: OutputSpec | None,
    ) -> LoopGen:
        settings = self.settings
        state = self.state
        guards = settings.guards
        with_retriever = settings.retriever is not None
        system = prompts.build_system_prompt(
            settings.system_prompt,
            settings.prompts,
            helpers=prompts.describe_helpers(self.toolkit.available_specs()),
            with_retriever=with_retriever,
            max_output_chars=settings.max_output_chars,
        )
        first_message = prompts.build_first_message(
            query, metadata, note=note, first_step=settings.prompts.first_step
        )
        if output is not None:
            first_message += "\n\n" + prompts.structured_request(output.schema)
        history = History(
            system,
            first_message,
            keep_turns=settings.conversation_history,
            max_history_tokens=settings.max_history_tokens,
            compaction=settings.compaction,
        )
        self.history = history
        subcalls_before = state.budget.subcalls
        self.query = query
        self.repl.set("QUERY", query)
        last_code: str | None = None
        last_failed = False
        step = 0
        while True:
            step += 1
            try:
                state.budget.check_step(step)
                if history.needs_compaction():
                    yield from self._compact(history)
                reply = yield from self._model(
                    _with_status(history.messages, state.budget.status(step)),
                    settings.max_output_tokens,
                    purpose="step",
                )
            except PolicyError as error:
                return (yield from self._finalize_on_limit(history, error))
            except _OverBudget as over:
                return (yield from self._finish_over_budget(history, over, subcalls_before))

            parsed = parse_reply(reply)
            repeated = parsed.code is not None and parsed.code == last_code
            # The same code again is not progress: without a FINAL, or when it failed last
            # time (a FINAL next to failing code is refused anyway), it counts as invalid.
            if parsed.code is not None and not (repeated and (last_failed or not parsed.has_final)):
                last_code = parsed.code
                self.invalid_replies = 0  # the limit counts consecutive replies without code
                result = yield from self._exec(parsed.code)
                last_failed = not result.ok
                if state.budget.exhausted is not None:
                    history.add_turn(reply, prompts.output_message(result.stdout, result.error))
                    return (yield from self._finalize_on_limit(history, state.budget.exhausted))
                called = self.toolkit.take_final()
                if called is not None:  # FINAL(...) / FINAL_VAR(...) called in the code
                    answer, feedback = self._accept_final(_as_reply(called), subcalls_before)
                    if answer is not None:
                        if called.variable is None:
                            self.final_value = called.value
                        return answer
                elif result.ok and parsed.has_final:
                    answer, feedback = self._accept_final(parsed, subcalls_before)
                    if answer is not None:
                        return answer
                else:
                    feedback = prompts.CODE_FAILED_FINAL if parsed.has_final else None
                auto = self._auto_final()
                if auto is not None:
                    return auto
                message = prompts.output_message(result.stdout, result.error)
                history.add_turn(reply, f"{message}\n\n{feedback}" if feedback else message)
                continue

            if repeated:
                self.invalid_replies += 1
                feedback = prompts.REPEATED_FAILING_CODE if last_failed else prompts.REPEATED_CODE
                reason = "the same failing code again" if last_failed else "the same code again"
                state.emit("guard", depth=self.depth, reason=reason)
                if last_failed:  # not run again, but the model is stuck: one more failed step
                    try:
                        state.budget.record_exec(False)
                    except PolicyError as error:
                        history.add_turn(reply, feedback)
                        return (yield from self._finalize_on_limit(history, error))
            elif parsed.has_final:
                answer, feedback = self._accept_final(parsed, subcalls_before)
                if answer is not None:
                    return answer
                assert feedback is not None
                self.invalid_replies += 1
                state.emit("guard", depth=self.depth, reason=feedback)
            else:
                self.invalid_replies += 1
                feedback = prompts.INVALID_REPLY if reply.strip() else prompts.EMPTY_REPLY
                state.emit("guard", depth=self.depth, reason="reply without code or FINAL")
            limit = guards.invalid_response_limit
            if limit is not None and self.invalid_replies >= limit:
                return (yield from self._give_up(history, reply, feedback))
            history.add_turn(reply, feedback)

    # -- finishing ---------------------------------------------------------------------------
    def _never_silent(self, answer: str) -> str:
        """An empty answer becomes ``NO_ANSWER``, flagged in the trace (``no_answer``)."""
        if answer.strip():
            return answer
        self.final_value = _UNSET
        if self.depth == 0:
            self.state.trace.metadata["no_answer"] = True
        self.state.emit("guard", depth=self.depth, reason="the run ended without an answer")
        return NO_ANSWER

    def _accept_final(
        self, parsed: ParsedReply, subcalls_before: int
    ) -> tuple[str | None, str | None]:
        """(answer, None) when the FINAL is accepted, else (None, feedback)."""
        guards = self.settings.guards
        if guards.require_repl_before_final and not self.repl_ran:
            return None, prompts.NEED_REPL
        needs_subcall = guards.require_subcall_before_final and self.depth == 0
        if needs_subcall and self.state.budget.subcalls == subcalls_before:
            return None, prompts.NEED_SUBCALL
        if parsed.final_var is not None:
            value = self._variable(parsed.final_var)
            if value is _UNSET:
                return None, prompts.missing_variable(parsed.final_var)
            return self._answer(value), None
        # With an answer variable (the small profile), ``FINAL: None`` / ``FINAL: NOT FOUND``
        # echoes an answer that was never found: ask for more work instead of ending on it.
        if self.settings.auto_finalize_var is not None and nothing_found(parsed.final_text):
            return None, prompts.EMPTY_FINAL
        return self._answer(parsed.final_text), None

    def _answer(self, value: Any) -> str:
        """``value`` as the answer text; the value itself is kept for ``output_type``."""
        self.final_value = value
        return _as_answer(value)

    def _structured(self, answer: str, output: OutputSpec) -> LoopGen:
        """The answer validated against ``output``, after at most one repair turn."""
        raw = self.final_value
        if raw is _UNSET or _as_answer(raw) != answer:
            raw = answer
        try:
            return output.validate(raw)
        except OutputInvalid as problem:
            first = str(problem)
        self.state.emit(
            "guard", depth=self.depth, reason=f"the answer does not match {output.name}"
        )
        assert self.history is not None
        self.history.add_turn(self.last_reply, prompts.repair_request(first))
        reply = yield from self._model(
            self.history.messages, self.settings.max_output_tokens, purpose="repair", account=False
        )
        parsed = parse_reply(reply)
        self.final_value = _UNSET
        repaired: Any = reply.strip()
        if parsed.code is not None:
            yield from self._exec(parsed.code, purpose="repair")
            answer_text = self._answer_from_variables()
            repaired = self.final_value if answer_text is not None else repaired
        if parsed.final_var is not None:
            value = self._variable(parsed.final_var)
            repaired = value if value is not _UNSET else repaired
        elif parsed.final_text is not None and self.final_value is _UNSET:
            repaired = parsed.final_text
        try:
            return output.validate(repaired)
        except OutputInvalid as problem:
            raise OutputValidationError(
                f"the answer does not match {output.name} even after one repair turn: {problem} "
                f"(first attempt: {first})"
            ) from None

    def _variable(self, name: str) -> Any:
        try:
            return self.repl.get(name)
        except KeyError:
            return _UNSET

    def _auto_final(self) -> str | None:
        name = self.settings.auto_finalize_var
        return None if name is None else self._usable_answer(name)

    def _usable_answer(self, name: str) -> str | None:
        """The variable as an answer, unless it is unset, None or a 'not found' reply."""
        value = self._variable(name)
        if value is _UNSET or value is None or (isinstance(value, str) and is_no_answer(value)):
            return None
        return self._answer(value)

    def _answer_from_variables(self) -> str | None:
        """The answer that fallback or finalize code left: a ``FINAL(...)`` call, else the
        answer variables."""
        called = self.toolkit.take_final()
        if called is not None:
            if called.variable is None:
                return self._answer(called.value)
            value = self._variable(called.variable)
            if value is not _UNSET:
                return self._answer(value)
        for name in (self.settings.auto_finalize_var, "answer"):
            if name is not None and (answer := self._usable_answer(name)) is not None:
                return answer
        return None

    def _give_up(self, history: History, reply: str, feedback: str) -> LoopGen:
        """Too many replies without usable code: run ``fallback_code``, else finalize."""
        self.state.emit("guard", depth=self.depth, reason="invalid_response_limit reached")
        fallback = self._fallback_code()
        if fallback:
            result = yield from self._exec(fallback, purpose="fallback")
            answer = self._answer_from_variables()
            if answer is not None:
                return answer
            history.add_turn(reply, prompts.output_message(result.stdout, result.error))
        else:
            history.add_turn(reply, feedback)
        return (yield from self._finalize("the model kept replying without usable code", history))

    def _fallback_code(self) -> str | None:
        """``fallback_code``, built from this run's question when it is a function."""
        fallback = self.settings.guards.fallback_code
        if callable(fallback):
            code = fallback(self.query)
            return code if isinstance(code, str) and code.strip() else None
        return fallback

    def _finish_over_budget(
        self, history: History, over: _OverBudget, subcalls_before: int
    ) -> LoopGen:
        """The reply that used up the token budget still counts: run its code and take
        the answer it produces (or its FINAL) before asking for a final answer."""
        if self.settings.policy.on_limit == "raise":
            raise over.error
        parsed = parse_reply(over.reply)
        if parsed.code is None:
            if parsed.has_final:
                answer, _ = self._accept_final(parsed, subcalls_before)
                if answer is not None:
                    return answer
            return (yield from self._finalize(str(over.error), history))
        result = yield from self._exec(parsed.code, purpose="over_budget")
        called = self.toolkit.take_final()
        final = _as_reply(called) if called is not None else parsed if result.ok else None
        if final is not None and final.has_final:
            answer, _ = self._accept_final(final, subcalls_before)
            if answer is not None:
                if called is not None and called.variable is None:
                    self.final_value = called.value
                return answer
        answer = self._answer_from_variables()
        if answer is not None:
            return answer
        history.add_turn(over.reply, prompts.output_message(result.stdout, result.error))
        return (yield from self._finalize(str(over.error), history))

    def _finalize_on_limit(self, history: History, error: PolicyError) -> LoopGen:
        if self.settings.policy.on_limit == "raise":
            raise error
        return (yield from self._finalize(str(error), history))

    def _finalize(self, reason: str, history: History) -> LoopGen:
        """Ask the model once for its best answer from what it gathered.

        How it ended is recorded in the trace (``metadata["finalize"]``). When the
        call fails and no REPL variable holds an answer, the ``AdapterError`` is
        raised (with the trace) rather than returning an empty answer.
        """
        self.state.emit("finalize", depth=self.depth, reason=reason)
        history.add_user(prompts.finalize_request(reason, self.settings.prompts))
        try:
            reply = yield from self._model(
                history.messages,
                self.settings.max_output_tokens,
                purpose="finalize",
                account=False,
            )
        except AdapterError as error:
            answer = self._answer_from_variables()
            self._record_finalize(reason, "model_failed", error=str(error))
            if answer is not None:
                return answer
            raise AdapterError(
                f"the run stopped ({reason}) and the call asking the model for its final "
                f"answer failed, with no answer in the REPL variables: {error}",
                status_code=error.status_code,
            ) from error
        answer = yield from self._answer_from_finalize_reply(reply)
        self._record_finalize(reason, "answer" if answer else "empty_answer")
        return answer

    def _answer_from_finalize_reply(self, reply: str) -> LoopGen:
        parsed = parse_reply(reply)
        if parsed.final_var is not None:
            value = self._variable(parsed.final_var)
            if value is not _UNSET:
                return self._answer(value)
        if parsed.final_text:
            return self._answer(parsed.final_text)
        if parsed.code is not None:
            # The model answered with code: run it once and take the answer it computes.
            result = yield from self._exec(parsed.code, purpose="finalize")
            answer = self._answer_from_variables()
            if answer is not None:
                return answer
            return result.stdout.strip() if result.ok else ""
        if parsed.final_var is not None:  # names a variable that does not exist: no answer
            return self._answer_from_variables() or ""
        return self._answer_from_variables() or reply.strip()

    def _record_finalize(self, reason: str, outcome: str, **details: str) -> None:
        """Note in the trace how a forced finalization ended (``answer``,
        ``empty_answer`` or ``model_failed``)."""
        if self.depth == 0:
            self.state.trace.metadata["finalize"] = {
                "reason": reason,
                "outcome": outcome,
                **details,
            }
        if outcome != "answer":
            self.state.emit("guard", depth=self.depth, reason=f"finalize: {outcome}")

    def _compact(self, history: History) -> Generator[Effect, Any, None]:
        assert self.settings.compaction is not None
        before = history.tokens
        summary = yield from self._model(
            history.compaction_request(),
            self.settings.compaction.summary_max_tokens,
            purpose="compaction",
        )
        history.apply_summary(summary)
        self.repl.set(self.transcript_variable, list(history.full))
        self.state.emit(
            "compaction", depth=self.depth, tokens_before=before, tokens_after=history.tokens
        )


def _with_status(messages: list[Message], status: str) -> list[Message]:
    """``messages`` with the status line added to the last one (the history keeps none)."""
    last = dict(messages[-1])
    last["content"] = f"{last['content']}\n\n{status}"
    return [*messages[:-1], last]


def _as_reply(called: FinalCall) -> ParsedReply:
    """A ``FINAL(...)`` / ``FINAL_VAR(...)`` call from code, as if it were a FINAL line."""
    if called.variable is not None:
        return ParsedReply(code=None, final_text=None, final_var=called.variable)
    return ParsedReply(code=None, final_text=_as_answer(called.value), final_var=None)


def _as_answer(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


_EMPTY_LITERALS = frozenset({"[]", "{}", "()", "''", '""', "set()"})


def nothing_found(text: str | None) -> bool:
    """A FINAL text saying nothing: empty, "None", "NOT FOUND"-style, or an empty literal."""
    return is_no_answer(text) or (text or "").strip() in _EMPTY_LITERALS
