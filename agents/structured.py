"""Ask a chat model for a pydantic object; validate, send the error back, retry, then fail.

Works with any LangChain chat model that supports ``with_structured_output``: the real
OpenAI and Anthropic clients, an OpenAI-compatible server, the offline rule-based model
and test fakes. The model's raw answer is kept (``include_raw=True``) so that a failed
parse can be answered in the conversation: a tool call gets a ``ToolMessage`` carrying the
error (the APIs require every tool call to be answered), plain text a ``HumanMessage``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TypeVar

from langchain_core.exceptions import OutputParserException
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from pydantic import BaseModel, ValidationError

from pakati.agents.prompts import RETRY_MESSAGE
from pakati_engine.errors import PakatiError

T = TypeVar("T", bound=BaseModel)

DEFAULT_RETRIES = 2


class LLMOutputError(PakatiError):
    """The model did not produce a valid answer within the allowed attempts."""


def describe_error(error: BaseException | str) -> str:
    """A short, model-readable description of why an answer was rejected."""
    if isinstance(error, ValidationError):
        parts = []
        for item in error.errors()[:5]:
            where = ".".join(str(p) for p in item.get("loc", ())) or "answer"
            parts.append(f"{where}: {item.get('msg', '')}")
        return "; ".join(parts)
    text = str(error)
    return text if len(text) < 600 else text[:600] + "..."


def invoke_structured(
    llm: BaseChatModel,
    schema: type[T],
    messages: Sequence[BaseMessage],
    *,
    retries: int = DEFAULT_RETRIES,
    method: str | None = None,
    check: Any = None,
) -> T:
    """Call ``llm`` until it returns a valid ``schema`` object (at most ``retries + 1`` calls).

    ``method`` is passed to ``with_structured_output`` when given ("function_calling",
    "json_schema", ...). ``check`` is an optional callable run on the parsed object that
    raises ``ValueError`` for answers the schema alone cannot reject.

    Raises:
        LLMOutputError: every attempt failed; the message gives the last error.
    """
    kwargs: dict[str, Any] = {"include_raw": True}
    if method is not None:
        kwargs["method"] = method
    runnable = llm.with_structured_output(schema, **kwargs)
    history = list(messages)
    tool = schema.__name__
    last = "no answer"
    for _attempt in range(retries + 1):
        try:
            answer = runnable.invoke(history)
        except (ValidationError, OutputParserException, json.JSONDecodeError) as problem:
            # Some clients parse inside the call (OpenAI's json_schema path validates the
            # content with the schema itself), so the raw answer is lost: say what failed.
            last = describe_error(problem)
            history.append(HumanMessage(content=RETRY_MESSAGE.format(error=last, tool=tool)))
            continue
        raw = answer.get("raw") if isinstance(answer, dict) else None
        parsed = answer.get("parsed") if isinstance(answer, dict) else answer
        error: BaseException | str | None = (
            answer.get("parsing_error") if isinstance(answer, dict) else None
        )
        if isinstance(raw, AIMessage):
            error = _unknown_tool(raw, tool) or error
        if error is None and parsed is None:
            error = f"the answer did not call the {tool} tool"
        if error is None:
            try:
                result = parsed if isinstance(parsed, schema) else schema.model_validate(parsed)
                if check is not None:
                    check(result)
                return result
            except (ValidationError, ValueError) as problem:
                error = problem
        last = describe_error(error)
        history.extend(_feedback(raw, RETRY_MESSAGE.format(error=last, tool=tool)))
    raise LLMOutputError(
        f"the language model gave no valid {tool} after {retries + 1} attempts; last error: {last}"
    )


def _unknown_tool(raw: AIMessage, wanted: str) -> str | None:
    names = [call["name"] for call in raw.tool_calls]
    unknown = [n for n in names if n != wanted]
    if unknown:
        return f"unknown tool {unknown[0]!r}; the only tool is {wanted!r}"
    return None


def _feedback(raw: Any, text: str) -> list[BaseMessage]:
    """The failed answer and the error, in a form every provider accepts."""
    if not isinstance(raw, AIMessage):
        return [HumanMessage(content=text)]
    if raw.tool_calls:
        replies: list[BaseMessage] = [raw]
        for call in raw.tool_calls:
            replies.append(ToolMessage(content=text, tool_call_id=call.get("id") or "call"))
        return replies
    content = raw.content if raw.content else json.dumps({"note": "empty answer"})
    return [AIMessage(content=content), HumanMessage(content=text)]
