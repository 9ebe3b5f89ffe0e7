"""Model cards, keys and selection: hard filters, then ranking, with reasons."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pakati_engine.errors import InvalidInputError
from pakati_engine.providers.cards import BUILTIN_CARDS, ModelCard, load_user_cards
from pakati_engine.providers.keys import provider_access
from pakati_engine.providers.registry import Need, Registry

OPENAI = {"PAKATI_API_KEY_OPENAI": "sk-a"}
ALL_KEYS = {**OPENAI, "REPLICATE_API_TOKEN": "r8-a", "HF_TOKEN": "hf-a"}


def card(id: str, **fields: object) -> ModelCard:
    base: dict[str, object] = {
        "provider": "openai",
        "tasks": ["text-to-image", "edit"],
        "key_env": ["PAKATI_API_KEY_OPENAI"],
    }
    return ModelCard(id=id, **{**base, **fields})  # type: ignore[arg-type]


CARDS = [
    card("cheap", cost_usd=0.01, latency_s=20),
    card("fast", cost_usd=0.05, latency_s=2),
    card("measured", cost_usd=0.09, quality=0.7),
    card("better", cost_usd=0.09, quality=0.9, mask="hint"),
    card("t2i-only", tasks=["text-to-image"], cost_usd=0.0),
    card(
        "exact",
        provider="local",
        offline=True,
        mask="pixel-exact",
        tasks=["edit"],
        quality=0.2,
        source="folder",
    ),
    card("replicated", provider="replicate", cost_usd=0.0, key_env=["REPLICATE_API_TOKEN"]),
]


@pytest.mark.parametrize(
    ("need", "env", "offline", "chosen", "why"),
    [
        (Need(), OPENAI, False, "better", "best measured quality (0.90)"),
        (Need(preference=("cheap",)), OPENAI, False, "cheap", "your preference #1"),
        (Need(preference=("nope", "fast")), OPENAI, False, "fast", "your preference #2"),
        (Need(tasks=("edit",)), {}, False, "exact", "best measured quality"),
        (Need(mask="pixel-exact"), OPENAI, False, "exact", "best measured quality (0.20)"),
        (Need(), OPENAI, True, "exact", "best measured quality"),
        (Need(local_only=True), OPENAI, False, "exact", ""),
        (
            Need(tasks=("text-to-image",), preference=("replicated",)),
            ALL_KEYS,
            False,
            "replicated",
            "preference #1",
        ),
        (
            Need(tasks=("text-to-image",), preference=("replicated",)),
            OPENAI,
            False,
            "better",
            "best measured",
        ),
    ],
)
def test_selection_filters_then_ranks(
    need: Need, env: dict[str, str], offline: bool, chosen: str, why: str
) -> None:
    registry = Registry(CARDS, env=env, dotenv=None, offline=offline, user_cards=False)
    choice = registry.select(need)
    assert choice.card.id == chosen
    assert why in choice.reason


def test_a_model_measured_as_useless_ranks_below_one_never_measured() -> None:
    cards = [card("random", quality=0.0, cost_usd=0.0), card("unknown", cost_usd=0.5)]
    registry = Registry(cards, env=OPENAI, dotenv=None, user_cards=False)
    assert registry.select(Need()).card.id == "unknown"
    assert registry.select(Need(preference=("random",))).card.id == "random"


def test_selection_says_why_each_model_was_rejected() -> None:
    registry = Registry(CARDS, env={}, dotenv=None, user_cards=False)
    choice = registry.select(Need(tasks=("edit",)))
    assert choice.card.id == "exact"
    assert "no key: set PAKATI_API_KEY_OPENAI or OPENAI_API_KEY" in choice.rejected["cheap"]
    assert choice.rejected["t2i-only"] == "does none of edit"
    offline = Registry(CARDS, env=OPENAI, dotenv=None, offline=True, user_cards=False)
    assert "offline" in offline.select(Need()).rejected["fast"]
    with pytest.raises(InvalidInputError, match="no image model can do this task"):
        Registry(CARDS[:2], env={}, dotenv=None, user_cards=False).select(Need())


def test_builtin_cards_explain_midjourney_and_claude() -> None:
    registry = Registry(env=ALL_KEYS, dotenv=None, user_cards=False)
    midjourney = registry.availability(registry.require("Midjourney"))
    claude = registry.availability(registry.require("claude"))
    assert not midjourney.available and "no public API" in midjourney.reason
    assert not claude.available and "planner/critic" in claude.reason
    assert registry.require("dalle-3").id == "dall-e-3"
    assert registry.require("dalle-3").tasks == ["text-to-image"]
    assert {c.id for c in BUILTIN_CARDS} >= {"gpt-image-1", "dall-e-2", "replicate-sdxl", "hf-sdxl"}


def test_local_folder_card_comes_from_its_config() -> None:
    registry = Registry(env={}, dotenv=None, user_cards=False)
    shapes = registry.require("pakati-shapes")
    assert registry.availability(shapes).available
    folder = Path(__file__).parents[1] / "pakati_engine/models/weights/shapes-t2i"
    derived = registry.require(str(folder))
    assert derived.source == "folder" and derived.native_side == 128
    assert derived.quality is not None and 0.9 < derived.quality <= 1.0  # its own eval
    sdxl = registry.availability(registry.require("sdxl"))
    assert not sdxl.available and sdxl.reason.startswith("no weights")


def test_user_cards_add_and_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "cards.json"
    path.write_text(
        json.dumps(
            [
                {
                    "id": "my-flux",
                    "provider": "replicate",
                    "remote_id": "me/flux",
                    "tasks": ["text-to-image"],
                    "key_env": ["REPLICATE_API_TOKEN"],
                },
                {"id": "dall-e-2", "provider": "openai", "tasks": ["text-to-image"]},
            ]
        )
    )
    monkeypatch.setenv("PAKATI_MODEL_CARDS", str(path))
    registry = Registry(env={"REPLICATE_API_TOKEN": "x"}, dotenv=None)
    assert registry.require("my-flux").source == "user"
    assert registry.availability(registry.require("my-flux")).available
    assert registry.require("dall-e-2").tasks == ["text-to-image"]
    path.write_text(json.dumps([{"id": "broken", "provider": "nowhere"}]))
    with pytest.raises(InvalidInputError, match=r"model card 1 .* provider"):
        load_user_cards()
    monkeypatch.setenv("PAKATI_MODEL_CARDS", str(tmp_path / "missing.json"))
    with pytest.raises(InvalidInputError, match="does not exist"):
        load_user_cards()


def test_keys_fall_back_to_ecosystem_names_and_never_show() -> None:
    access = provider_access("openai", {"OPENAI_API_KEY": "sk-eco"}, None)
    assert access.key_name == "OPENAI_API_KEY" and access.official
    assert access.notice() is None
    both = provider_access("openai", {"OPENAI_API_KEY": "a", "PAKATI_API_KEY_OPENAI": "b"}, None)
    assert both.key_name == "PAKATI_API_KEY_OPENAI"
    assert "sk-eco" not in repr(access)
    hf = provider_access("huggingface", {"HF_TOKEN": "t"}, None)
    assert hf.key_name == "HF_TOKEN"


def test_base_url_from_env_file_does_not_get_the_key(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("OPENAI_BASE_URL=http://evil.example/v1\n")
    env = {"PAKATI_API_KEY_OPENAI": "sk-real"}
    with pytest.raises(InvalidInputError, match="--trust-env-file"):
        provider_access("openai", env, dotenv)
    trusted = provider_access("openai", env, dotenv, trust_env_file=True)
    assert "go to http://evil.example/v1" in (trusted.notice() or "")
    own = provider_access("openai", {**env, "OPENAI_BASE_URL": "http://127.0.0.1:1/v1"}, dotenv)
    assert own.base_url == "http://127.0.0.1:1/v1"
    registry = Registry(env=env, dotenv=dotenv, user_cards=False)
    status = registry.availability(registry.require("dall-e-2"))
    assert not status.available and "--trust-env-file" in status.reason


def test_key_read_from_env_file(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("export REPLICATE_API_TOKEN='r8-file'\n# comment\n")
    access = provider_access("replicate", {}, dotenv)
    assert access.key is not None and access.key.get_secret_value() == "r8-file"


def test_pakati_models_lists_what_is_usable_and_why_not(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from pakati.cli import main

    for name in ("OPENAI_API_KEY", "REPLICATE_API_TOKEN", "HF_TOKEN", "PAKATI_MODEL_CARDS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("PAKATI_API_KEY_OPENAI", "sk-listed-SECRET")
    assert main(["models", "--json"]) == 0
    output = capsys.readouterr().out
    rows = {row["id"]: row for row in json.loads(output)}
    assert rows["dall-e-3"]["available"] and rows["dall-e-3"]["reason"] == (
        "key PAKATI_API_KEY_OPENAI"
    )
    assert not rows["replicate-sdxl"]["available"] and "no key" in rows["replicate-sdxl"]["reason"]
    assert rows["pakati-shapes"]["available"]
    assert "no public API" in rows["midjourney"]["reason"]
    assert "sk-listed-SECRET" not in output
    assert main(["models", "--offline"]) == 0
    text = capsys.readouterr().out
    assert "offline" in text and "models usable now" in text


def test_planner_region_models_go_through_the_registry() -> None:
    from pakati.agents.planner import check_region_models, make_plan
    from pakati.agents.schemas import Plan
    from tests.agent_fakes import ScriptedChatModel, plan_args, tool_answer

    def with_model(model: str) -> dict[str, object]:
        args = plan_args()
        args["regions"][1]["model"] = model
        return args

    check_region_models(Plan.model_validate(with_model("dalle-3")))  # known: fine
    with pytest.raises(ValueError, match="no public API"):
        check_region_models(Plan.model_validate(with_model("midjourney")))
    llm = ScriptedChatModel(
        responses=[
            tool_answer("Plan", with_model("imagen-9"), "c1"),
            tool_answer("Plan", with_model("dall-e-2"), "c2"),
        ]
    )
    llm.seen = []
    plan = make_plan(llm, "goal", 64, 64)
    assert plan.region("square").model == "dall-e-2"
    assert "'a blue square' at (34.0, 16.0, 62.0, 44.0) by dall-e-2" in plan.summary()
    sent_back = str(llm.seen[1][-1].content)
    assert "model 'imagen-9' cannot draw it (no such model)" in sent_back
    assert "pakati-shapes" in sent_back


def test_planner_prompt_lists_the_usable_models_and_the_offline_planner_still_reads_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from pakati.agents.offline import OfflinePlannerModel
    from pakati.agents.planner import edit_plan, make_plan
    from tests.agent_fakes import ScriptedChatModel, plan_args, tool_answer

    for provider in ("OPENAI", "REPLICATE", "HUGGINGFACE"):
        monkeypatch.delenv(f"PAKATI_API_KEY_{provider}", raising=False)
    for name in ("OPENAI_API_KEY", "REPLICATE_API_TOKEN", "HF_TOKEN", "PAKATI_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("PAKATI_MODEL_CARDS", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    llm = ScriptedChatModel(responses=[tool_answer("Plan", plan_args(), "c1")])
    llm.seen = []
    make_plan(llm, "goal", 64, 64)
    sent = str(llm.seen[0][-1].content)
    assert sent.startswith("IMAGE MODELS:\n- pakati-shapes (local: ")
    assert "no remote image model is usable here: no API key is set; local models only" in sent
    assert "dall-e-3" not in sent and "midjourney" not in sent
    monkeypatch.setenv("PAKATI_API_KEY_OPENAI", "sk-planner-SECRET")
    llm = ScriptedChatModel(responses=[tool_answer("Plan", plan_args(), "c1")])
    llm.seen = []
    make_plan(llm, "goal", 64, 64)
    sent = str(llm.seen[0][-1].content)
    assert "- dall-e-3 (openai, remote: text-to-image)" in sent and "local models only" not in sent
    assert "sk-planner-SECRET" not in sent
    # The offline planner reads its sections past the list: the canvas size and the goal.
    offline = OfflinePlannerModel()
    plan = make_plan(offline, "a red circle on the left", 96, 64)
    assert (plan.width, plan.height) == (96, 64)
    assert [r.prompt for r in plan.regions] == ["a red circle"]
    edited = edit_plan(offline, plan, "now make the circle green")
    assert [r.prompt for r in edited.regions] == ["a green circle"]


def test_refiner_plans_are_checked_against_the_registry() -> None:
    from pakati.agents.refiner import propose
    from pakati.agents.schemas import Critique, Plan, RegionVerdict
    from pakati.agents.structured import LLMOutputError
    from tests.agent_fakes import ScriptedChatModel, plan_args, reseed_args, tool_answer

    args = plan_args()
    args["regions"][1]["model"] = "midjourney"  # e.g. a plan restored from an old checkpoint
    plan = Plan.model_validate(args)
    verdict = RegionVerdict(
        name="square", prompt="a blue square", score=0.1, clip_score=10, passed=False
    )
    critique = Critique(score=0.1, global_score=0.1, clip_score=10, regions=[verdict], passed=False)
    llm = ScriptedChatModel(responses=[tool_answer("RefinementActions", reseed_args("square"))])
    with pytest.raises(LLMOutputError, match="no public API"):
        propose(llm, plan, critique, 1, retries=0)
    args["regions"][1]["model"] = "auto"  # the registry chooses when it is drawn
    llm = ScriptedChatModel(responses=[tool_answer("RefinementActions", reseed_args("square"))])
    actions = propose(llm, Plan.model_validate(args), critique, 1, retries=0)
    assert actions.actions[0].kind == "reseed"


def test_the_agents_trust_env_file_reaches_its_canvases(tmp_path: Path) -> None:
    from pakati.agents.offline import OfflinePlannerModel
    from pakati.foreign import canvas_registry
    from pakati.orchestrator import Context, make_services
    from pakati_engine.layout import Layout

    for trust in (False, True):
        context = Context(primary_goal="x", trust_env_file=trust, workdir=str(tmp_path))
        services = make_services(context, llm=OfflinePlannerModel(), model="tiny-random")
        canvas_id = services.session.create_canvas(Layout(width=64, height=64, model="tiny-random"))
        canvas = services.session.canvas(canvas_id)
        assert canvas.trust_env_file is trust
        assert canvas_registry(canvas).trust_env_file is trust
