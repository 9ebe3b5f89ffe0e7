"""The real ChatOpenAI and ChatAnthropic clients against small local HTTP servers.

Each server (``http.server`` on 127.0.0.1 in a thread) records the JSON requests it gets and
answers with scripted OpenAI Chat Completions or Anthropic Messages responses, so the
tests check what the clients send (tools, ``response_format``, tool results, retries with
the error) and that the agent parses what comes back.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from langchain_anthropic import ChatAnthropic
from langchain_core.messages import HumanMessage
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from pakati.agents.planner import make_plan
from pakati.agents.providers import make_chat_model, resolve_provider, structured_method
from pakati.agents.refiner import propose
from pakati.agents.schemas import Critique, Plan, RegionVerdict
from pakati.agents.structured import LLMOutputError
from pakati.tools import CanvasSession, make_tools, run_tool_calls
from tests.agent_fakes import plan_args, reseed_args


class ScriptedServer:
    """Answers POSTs with scripted JSON bodies, in order, and records the requests."""

    def __init__(self, answers: list[dict[str, Any]]) -> None:
        self.answers = list(answers)
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.headers: list[dict[str, str]] = []


@contextmanager
def serve(answers: list[dict[str, Any]]) -> Iterator[tuple[str, ScriptedServer]]:
    script = ScriptedServer(answers)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            script.requests.append(json.loads(self.rfile.read(length)))
            script.paths.append(self.path)
            script.headers.append({k.lower(): v for k, v in self.headers.items()})
            body = json.dumps(script.answers.pop(0)).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", script
    finally:
        server.shutdown()
        server.server_close()


def openai_reply(content: str | None = None, tool: tuple[str, Any] | None = None) -> dict:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool is not None:
        name, args = tool
        message["tool_calls"] = [
            {
                "id": f"call_{len(json.dumps(args))}",
                "type": "function",
                "function": {
                    "name": name,
                    "arguments": args if isinstance(args, str) else json.dumps(args),
                },
            }
        ]
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "local",
        "choices": [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if tool else "stop"}
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def anthropic_reply(tool: tuple[str, dict] | None = None, text: str | None = None) -> dict:
    content: list[dict[str, Any]] = []
    if text is not None:
        content.append({"type": "text", "text": text})
    if tool is not None:
        content.append({"type": "tool_use", "id": "toolu_1", "name": tool[0], "input": tool[1]})
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-test",
        "content": content,
        "stop_reason": "tool_use" if tool else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 1, "output_tokens": 1},
    }


def openai(url: str) -> ChatOpenAI:
    key = SecretStr("sk-test-secret")
    return ChatOpenAI(model="local", api_key=key, base_url=f"{url}/v1", max_retries=0)


def anthropic(url: str) -> ChatAnthropic:
    return ChatAnthropic(  # type: ignore[call-arg]
        model="claude-test", api_key=SecretStr("sk-ant-test-secret"), base_url=url, max_retries=0
    )


def test_openai_json_schema_structured_output():
    with serve([openai_reply(content=json.dumps(plan_args()))]) as (url, server):
        plan = make_plan(openai(url), "a red circle and a blue square", 64, 64)
    assert plan.region("square").prompt == "a blue square"
    sent = server.requests[0]
    assert server.paths == ["/v1/chat/completions"]
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["name"] == "Plan"
    assert "tools" not in sent
    assert sent["messages"][0]["role"] == "system"
    assert "GOAL: a red circle and a blue square" in sent["messages"][1]["content"]


def test_openai_function_calling_with_retry_after_a_region_outside_the_canvas():
    outside = plan_args(regions=[{"name": "c", "box": [0, 0, 200, 20], "prompt": "a red circle"}])
    answers = [openai_reply(tool=("Plan", outside)), openai_reply(tool=("Plan", plan_args()))]
    with serve(answers) as (url, server):
        plan = make_plan(openai(url), "goal", 64, 64, method="function_calling")
    assert len(plan.regions) == 2
    first, second = server.requests
    assert first["tools"][0]["function"]["name"] == "Plan"
    assert "response_format" not in first
    tool_reply = second["messages"][-1]
    assert tool_reply["role"] == "tool" and "outside" in tool_reply["content"]
    assert second["messages"][-2]["tool_calls"][0]["function"]["name"] == "Plan"


def test_openai_bad_json_every_time_fails_clearly():
    answers = [openai_reply(content="{not json") for _ in range(2)]
    with serve(answers) as (url, server), pytest.raises(LLMOutputError, match="2 attempts"):
        make_plan(openai(url), "goal", 64, 64, retries=1)
    assert len(server.requests) == 2
    assert "could not be used" in server.requests[1]["messages"][-1]["content"]


def test_anthropic_tool_calling_plan_and_refinement():
    critique = Critique(
        score=0.1,
        global_score=0.1,
        clip_score=10.0,
        regions=[
            RegionVerdict(
                name="square", prompt="a blue square", score=0.0, clip_score=0.0, passed=False
            ),
            RegionVerdict(
                name="circle", prompt="a red circle", score=0.5, clip_score=50.0, passed=True
            ),
        ],
        passed=False,
    )
    answers = [
        anthropic_reply(tool=("Plan", plan_args())),
        anthropic_reply(
            tool=("RefinementActions", {"actions": [{"kind": "reseed", "region": "nope"}]})
        ),
        anthropic_reply(tool=("RefinementActions", reseed_args("square"))),
    ]
    with serve(answers) as (url, server):
        llm = anthropic(url)
        plan = make_plan(llm, "goal", 64, 64)
        actions = propose(llm, plan, critique, 1)
    assert actions.actions[0].region == "square"
    assert server.paths[0] == "/v1/messages"
    first = server.requests[0]
    assert first["tools"][0]["name"] == "Plan"
    assert first["tool_choice"] == {"type": "tool", "name": "Plan"}
    assert "Pakati" in str(first["system"])
    retry = server.requests[2]["messages"][-1]
    assert retry["role"] == "user" and retry["content"][0]["type"] == "tool_result"
    assert "unknown region 'nope'" in json.dumps(retry["content"])
    sent_key = server.headers[0].get("x-api-key") or server.headers[0].get("authorization", "")
    assert "sk-ant-test-secret" in sent_key


def test_tool_calls_both_ways_through_openai_and_anthropic(tmp_path):
    """The model calls an engine tool; the client runs it and sends the result back."""
    tools = make_tools(CanvasSession(tmp_path))
    layout_args = {"width": 64, "height": 64, "boxes": {"a": [0, 0, 40, 40], "b": [20, 0, 60, 40]}}
    for client, reply, final in (
        (openai, openai_reply(tool=("solve_layout", layout_args)), openai_reply(content="done")),
        (
            anthropic,
            anthropic_reply(tool=("solve_layout", layout_args)),
            anthropic_reply(text="done"),
        ),
    ):
        with serve([reply, final]) as (url, server):
            llm = client(url).bind_tools(tools)
            messages: list[Any] = [HumanMessage(content="place a and b without overlap")]
            answer = llm.invoke(messages)
            assert answer.tool_calls[0]["name"] == "solve_layout"
            results = run_tool_calls(answer, tools)
            boxes = json.loads(str(results[0].content))["boxes"]
            assert boxes["a"][2] <= boxes["b"][0] + 1e-6  # overlap resolved
            llm.invoke([*messages, answer, *results])
        sent_tools = json.dumps(server.requests[0]["tools"])
        assert "lock_region" in sent_tools and "regenerate_region" in sent_tools
        returned = json.dumps(server.requests[1]["messages"])
        assert "relaxed" in returned and ("tool_result" in returned or '"tool"' in returned)


def test_openai_compatible_provider_uses_function_calling_and_hides_the_key():
    with serve([openai_reply(tool=("Plan", plan_args()))]) as (url, server):
        config = resolve_provider(
            env={"PAKATI_OPENAI_BASE_URL": f"{url}/v1", "PAKATI_LLM_MODEL": "llama"}, dotenv=None
        )
        llm = make_chat_model(config)
        plan = make_plan(llm, "goal", 64, 64, method=structured_method(config))
    assert isinstance(plan, Plan)
    assert server.requests[0]["model"] == "llama" and "tools" in server.requests[0]
    assert url in config.describe() and "not-needed" not in config.describe()


def test_whole_loop_through_the_openai_client_never_writes_the_key(tmp_path, sd_bundle):
    from pakati.graphs import (
        Services,
        build_graph,
        initial_state,
        open_checkpointer,
        run_agent_graph,
        run_config,
    )
    from tests.agent_fakes import ScriptedScorer, cosine_critic

    goal = "a red circle and a blue square"
    scorer = ScriptedScorer({goal: [0.5], "a red circle": [0.5], "a blue square": [0.5]})
    with serve([openai_reply(tool=("Plan", plan_args()))]) as (url, server):
        session = CanvasSession(tmp_path / "run", model=sd_bundle, scorer=scorer)
        services = Services(
            llm=openai(url), session=session, method="function_calling", critic=cosine_critic
        )
        with open_checkpointer(tmp_path / "ckpt.sqlite") as saver:
            final = run_agent_graph(
                build_graph(services, saver),
                initial_state(goal, 0.3, 2, 64, 64),
                run_config("http", 2),
            )
    assert final["stop_reason"] == "target reached" and len(server.requests) == 1
    written = [tmp_path / "ckpt.sqlite", *sorted((tmp_path / "run").iterdir())]
    assert any(p.suffix == ".png" for p in written)
    for path in written:
        assert b"sk-test-secret" not in path.read_bytes(), path
