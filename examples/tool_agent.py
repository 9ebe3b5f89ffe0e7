"""Your own agent on Pakati's tools: bind them to a LangChain chat model, answer its calls.

Pakati's agent (``pakati agent``) plans with structured output and draws every pass through
``pakati.agents.executor``; ``pakati.tools`` is the surface for agents you write yourself.
``make_tools(session)`` gives LangChain tools with pydantic argument schemas (create a
canvas, set regions, generate, regenerate with the rest kept exactly, lock, score with
CLIP, solve a layout, compare with a reference); ``run_tool_calls`` answers a model's tool
calls, returning errors as text the model can read and correct.

Offline, a scripted model stands in for your LLM::

    python examples/tool_agent.py --out-dir outputs/tool-agent

With your own model, pass it to ``run_agent_loop`` instead (any chat model with
``bind_tools``, e.g. ``langchain_openai.ChatOpenAI``).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from pakati.tools import CanvasSession, make_tools, run_tool_calls


def run_agent_loop(
    llm: BaseChatModel, session: CanvasSession, request: str, max_turns: int = 10
) -> list[BaseMessage]:
    """Let ``llm`` call the tools until it answers without a tool call; the conversation."""
    tools = make_tools(session)
    model = llm.bind_tools(tools)
    messages: list[BaseMessage] = [HumanMessage(content=request)]
    for _ in range(max_turns):
        answer = model.invoke(messages)
        messages.append(answer)
        if not isinstance(answer, AIMessage) or not answer.tool_calls:
            break
        messages.extend(run_tool_calls(answer, tools))
    return messages


class ScriptedToolModel(FakeMessagesListChatModel):
    """Replays tool-calling messages; a stand-in for a real LLM in this example."""

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedToolModel:
        return self


def call(tool: str, **args: Any) -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": tool, "args": args, "id": tool}])


def scripted_model() -> ScriptedToolModel:
    """What a model might do for "a red circle left of a blue square, white background"."""
    canvas = "canvas-1"
    return ScriptedToolModel(
        responses=[
            call("create_canvas", width=128, height=128, base_prompt="a white background"),
            call("set_region", canvas_id=canvas, name="circle", box=[8, 32, 60, 96],
                 prompt="a red circle"),
            call("set_region", canvas_id=canvas, name="square", box=[68, 32, 120, 96],
                 prompt="a blue square"),
            call("generate", canvas_id=canvas, seed=3, out="first.png"),
            call("lock_region", canvas_id=canvas, regions=["circle"]),
            call("regenerate_region", canvas_id=canvas, regions=["square"], seed=4,
                 out="second.png"),
            call("score", image="second.png", text="a red circle and a blue square",
                 boxes=[[8, 32, 60, 96], [68, 32, 120, 96]],
                 captions=["a red circle", "a blue square"]),
            AIMessage(content="Done: second.png keeps the circle and has a new square."),
        ]
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out-dir", type=Path, default=Path("outputs/tool-agent"))
    args = parser.parse_args(argv)
    session = CanvasSession(args.out_dir, model="pakati-shapes")
    messages = run_agent_loop(scripted_model(), session, "a red circle left of a blue square")
    for message in messages:
        calls = getattr(message, "tool_calls", None)
        text = json.dumps(calls[0]["args"]) if calls else str(message.content)
        print(f"{message.type:>5}: {calls[0]['name'] + ' ' if calls else ''}{text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
