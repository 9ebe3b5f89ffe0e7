"""Test doubles for the agent: a scripted chat model and a scripted CLIP scorer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, BaseMessage
from pydantic import Field

from pakati.agents.critic import clip_score
from pakati.agents.schemas import Critique, RegionVerdict
from pakati_engine.clip.scoring import crop_region


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


def cosine_critic(
    image: Any, plan: Any, scorer: Any, target: float, region_target: float | None = None
) -> Critique:
    """A stand-in critic for the loop's tests: a region passes when its crop's (scripted)
    cosine reaches the target, and the image when (global + mean region cosine) / 2 does.

    The loop's mechanics (which regions are redrawn, locking, stopping, resuming) are under
    test there, with a random-weight model whose images are noise; the real critic is
    tested on rendered images in ``test_agent_critic``. One scorer call for the goal and one
    per region, so scripted call counts keep their meaning.
    """
    region_target = target if region_target is None else region_target
    goal = plan.goal or plan.base_prompt or " ".join(r.prompt for r in plan.regions)
    global_cos = float(scorer.similarity([image], [goal])[0][0])
    verdicts = []
    for region in plan.regions:
        crop = crop_region(image, region.bounds)
        cosine = float(scorer.similarity([crop], [region.prompt])[0][0])
        passed = cosine >= region_target
        verdicts.append(
            RegionVerdict(
                name=region.name,
                prompt=region.prompt,
                score=cosine,
                clip_score=clip_score(cosine),
                passed=passed,
                problem=None if passed else "weak",
                suggestions=[] if passed else [f"region {region.name!r}: new seed"],
            )
        )
    score = global_cos
    if verdicts:
        score = (global_cos + float(np.mean([v.score for v in verdicts]))) / 2
    return Critique(
        score=score,
        global_score=global_cos,
        clip_score=clip_score(global_cos),
        regions=verdicts,
        passed=score >= target,
        suggestions=[s for v in verdicts for s in v.suggestions],
    )
