"""Test doubles for the agent: a scripted chat model and a scripted CLIP scorer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, BaseMessage
from pydantic import Field


class ScriptedChatModel(FakeMessagesListChatModel):
    """Returns its scripted messages in order; records what it was sent.

    ``bind_tools`` returns the model itself (the generic fake has none), so
    ``with_structured_output`` parses the scripted tool calls.
    """

    seen: list[list[BaseMessage]] = Field(default_factory=list)

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedChatModel:
        return self

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> Any:
        self.seen.append(list(messages))
        return super()._generate(messages, *args, **kwargs)


def tool_answer(name: str, args: dict[str, Any], call_id: str = "call-1") -> AIMessage:
    return AIMessage(
        content="", tool_calls=[{"name": name, "args": args, "id": call_id, "type": "tool_call"}]
    )


def plan_args(width: int = 64, height: int = 64, **extra: Any) -> dict[str, Any]:
    """A two-region plan (red circle left, blue square right) as a model would send it."""
    args: dict[str, Any] = {
        "width": width,
        "height": height,
        "base_prompt": "a white background",
        "steps": 2,
        "guidance_scale": 3.0,
        "seed": 7,
        "regions": [
            {"name": "circle", "box": [2, 16, 30, 44], "prompt": "a red circle"},
            {"name": "square", "box": [34, 16, 62, 44], "prompt": "a blue square"},
        ],
    }
    args.update(extra)
    return args


def reseed_args(*regions: str, seed: int = 11) -> dict[str, Any]:
    return {
        "actions": [
            {"kind": "reseed", "region": r, "seed": seed + i} for i, r in enumerate(regions)
        ],
        "note": "new seeds",
    }


class ScriptedScorer:
    """A stand-in for ``ClipScorer``: cosines come from per-text scripts, call by call.

    ``scripts[text]`` lists the cosines returned for ``text`` on successive calls (the
    last one repeats); unknown texts score ``default``. ``fail_on_call`` raises on that
    call number (1-based) of ``similarity``, to simulate a crash inside the critic.
    """

    def __init__(
        self,
        scripts: dict[str, list[float]] | None = None,
        default: float = 0.0,
        fail_on_call: int | None = None,
    ) -> None:
        self.scripts = {k: list(v) for k, v in (scripts or {}).items()}
        self.default = default
        self.fail_on_call = fail_on_call
        self.calls = 0
        self.counts: dict[str, int] = {}

    def similarity(self, images: Sequence[Any], texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        if self.fail_on_call is not None and self.calls == self.fail_on_call:
            raise RuntimeError("scorer crashed (simulated)")
        first = texts[0]
        script = self.scripts.get(first)
        value = self.default
        if script:
            index = self.counts.get(first, 0)
            value = script[min(index, len(script) - 1)]
            self.counts[first] = index + 1
        out = np.full((len(images), len(texts)), -0.5, dtype=np.float32)
        out[:, 0] = value
        return out


def pass_scores(values: list[float], goal: str, prompts: Sequence[str]) -> ScriptedScorer:
    """A scorer whose overall score on pass i is ``values[i]`` (goal and regions alike)."""
    return ScriptedScorer({goal: values, **{p: values for p in prompts}})
