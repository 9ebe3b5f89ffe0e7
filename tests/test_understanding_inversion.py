"""Learning a reference as a token (textual inversion), the store of understandings, and
``pakati generate --understood`` / ``--refine``."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from pakati.cli import main
from pakati_engine.diffusion.text_encoding import encode_prompts
from pakati_engine.errors import InvalidInputError, ModelNotFoundError
from pakati_engine.models.adapters import load_textual_inversion
from pakati_engine.models.catalog import embedded_model_available
from pakati_engine.understanding import describe_scene, observe, reconstruct
from pakati_engine.understanding.inversion import (
    InversionSettings,
    LearnedToken,
    load_vectors,
    nearest_words,
)
from pakati_engine.world import make_scene
from tests.conftest import make_bundle

needs_model = pytest.mark.skipif(
    not embedded_model_available(), reason="the embedded model is not installed"
)


@pytest.fixture(scope="module")
def scene():
    return make_scene(3, size=64)


def _small(image: np.ndarray) -> np.ndarray:
    assert image.shape[:2] == (64, 64)
    return image


def _layout(description, bundle, token: LearnedToken, size: int = 64):
    layout = description.to_layout(size, size, bundle.source, seed=0, steps=2)
    return layout.model_copy(update={"base_prompt": f"{layout.base_prompt} {token.text}"})


def test_token_learns_from_seen_pixels_only_and_never_changes_the_model(scene, sd_bundle):
    image = _small(scene.image)
    seen = np.zeros(image.shape[:2], bool)
    seen[:, :32] = True
    description = describe_scene(scene)
    settings = InversionSettings(vectors=2, steps=6, batch=2, lr=0.05)
    before = sd_bundle.text_encoder.get_input_embeddings().weight.clone()
    vocabulary = len(sd_bundle.tokenizer)
    first = LearnedToken(sd_bundle, "<ref-a>", "red", settings)
    first.train_round(image, seen, _layout(description, sd_bundle, first))
    tampered = image.copy()
    tampered[~seen] = 255 - tampered[~seen]  # hidden pixels changed: nothing learned differs
    second = LearnedToken(sd_bundle, "<ref-a>", "red", settings)
    second.train_round(tampered, seen, _layout(description, sd_bundle, second))
    assert torch.equal(first.vectors, second.vectors)
    initial = LearnedToken(sd_bundle, "<ref-a>", "red", settings).vectors
    assert not torch.equal(first.vectors, initial)  # it did learn something
    different = image.copy()
    different[seen] = 255 - different[seen]
    third = LearnedToken(sd_bundle, "<ref-a>", "red", settings)
    third.train_round(different, seen, _layout(description, sd_bundle, third))
    assert not torch.equal(first.vectors, third.vectors)  # seen pixels do teach it
    assert torch.equal(sd_bundle.text_encoder.get_input_embeddings().weight, before)
    assert len(sd_bundle.tokenizer) == vocabulary and not sd_bundle.adapters.get("embeddings")


def test_optimisation_lowers_the_loss_on_the_reference(scene, sd_bundle):
    image = _small(scene.image)
    seen = np.ones(image.shape[:2], bool)
    token = LearnedToken(
        sd_bundle, "<ref-b>", "background", InversionSettings(steps=15, batch=4, lr=0.05)
    )
    layout = _layout(describe_scene(scene), sd_bundle, token)
    generator_state = token._generator.get_state()  # the same noise draws before and after
    losses_before = _loss(token, image, layout)
    token._generator.set_state(generator_state)
    for _ in range(4):
        token.train_round(image, seen, layout)
    token._generator.set_state(generator_state)
    assert _loss(token, image, layout) < losses_before


def _loss(token: LearnedToken, image: np.ndarray, layout) -> float:
    saved = token.vectors.detach().clone()
    optimizer = token._optimizer
    token._optimizer = torch.optim.SGD([token.vectors], lr=0.0)  # measure without moving
    loss = token.train_round(image, np.ones(image.shape[:2], bool), layout, steps=8)
    token._optimizer = optimizer
    token.losses.pop()
    token.steps_done -= 8
    assert torch.equal(saved, token.vectors)
    return loss


def test_saved_token_loads_the_standard_way_and_encodes_the_same(scene, tmp_path):
    learned_on = make_bundle("sd", seed=0)
    token = LearnedToken(learned_on, "<ref-c>", "blue", InversionSettings(steps=3, batch=2))
    image = _small(scene.image)
    token.train_round(
        image, np.ones((64, 64), bool), _layout(describe_scene(scene), learned_on, token)
    )
    path = token.save(tmp_path / "learned_embeds.safetensors")
    name, vectors = load_vectors(path)
    assert name == "<ref-c>" and torch.equal(vectors, token.vectors.detach())
    fresh = make_bundle("sd", seed=0)
    load_textual_inversion(fresh, path, "<ref-c>")  # diffusers' load_textual_inversion
    prompt = "a red circle <ref-c>"
    with torch.no_grad():
        mine = encode_prompts(token.bundle, [f"a red circle {token.text}"], [""], ["p"])
        loaded = encode_prompts(fresh, [prompt], [""], ["p"])
    assert torch.allclose(mine.positive, loaded.positive, atol=1e-6)


def test_nearest_words_and_bad_embedding_files(sd_bundle, tmp_path):
    table = sd_bundle.text_encoder.get_input_embeddings().weight.detach()
    red = sd_bundle.tokenizer("red", add_special_tokens=False).input_ids[0]
    words = nearest_words(sd_bundle.tokenizer, table, table[[red]], k=3)
    assert words[0][0] == "red"
    only = nearest_words(sd_bundle.tokenizer, table, table[[red]], k=2, words=["blue", "green"])
    assert set(only[0]) == {"blue", "green"}
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        load_vectors(tmp_path / "missing.safetensors")
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a safetensors file")
    with pytest.raises(InvalidInputError, match="corrupt"):
        load_vectors(broken)
    with pytest.raises(InvalidInputError, match=r"SD1\.x"):
        LearnedToken(make_bundle("sdxl"), "<x>", "red")


def test_sd_latent_space_reconstruction_keeps_what_was_seen(scene, sd_bundle):
    """Keep-mask reconstruction with an SD-shaped model: masks act on VAE latents, and the
    visible pixels are the observation's byte for byte; seeded."""
    image = _small(scene.image)
    obs = observe(image, "quadrant_reveal", 0.25, seed=1)
    layout = describe_scene(scene).to_layout(64, 64, sd_bundle.source, seed=3, steps=2)
    first = reconstruct(sd_bundle, obs, layout)
    assert first.shape == image.shape
    assert (first[~obs.hidden] == image[~obs.hidden]).all()
    assert (first == reconstruct(sd_bundle, obs, layout)).all()
    assert np.abs(first[obs.hidden].astype(int) - 127).mean() > 1  # the model drew something


@needs_model
def test_learned_understanding_is_stored_and_reloads_in_another_process(tmp_path):
    from pakati.understanding import ReferenceImage, ReferenceUnderstandingEngine
    from pakati_engine.models.loading import load_model

    scene = make_scene(3)
    path = tmp_path / "ref.png"
    Image.fromarray(scene.image).save(path)
    store = tmp_path / "store"
    engine = ReferenceUnderstandingEngine(
        model=load_model("pakati-shapes"),
        steps=2,
        progress=None,
        store=store,
        inversion=InversionSettings(steps=2, batch=2),
        reproduction_seeds=(0,),
    )
    reference = ReferenceImage(path, metadata={"scene": describe_scene(scene).to_dict()})
    understanding = engine.learn_reference(reference, ["quadrant_reveal", "edge_in"], 2)
    assert understanding.token == f"<ref-{understanding.reference_id}>"
    assert [a["token_steps"] for a in understanding.attempts][:1] == [2]
    report = understanding.token_report
    assert set(report) >= {"held_out_score_pathway", "held_out_score_pathway_with_token"}
    assert len(report["nearest_world_words"]) == 2
    assert set(understanding.pathway_reproduction) >= {"pathway", "pathway_with_token"}
    facts = understanding.knowledge
    assert facts["palette"][0]["color"] == scene.background  # the background covers most
    assert {p["color"] for p in facts["palette"]} >= {o.color for o in scene.objects}
    assert facts["object_boxes"] == understanding.to_dict()["pathway"]["objects"]
    assert all(0 <= v <= 1 for v in facts["composition_centroid"]["saliency"])
    assert len(facts["token_nearest_words"]) == 2
    folder = store / understanding.reference_id
    assert (folder / "understanding.json").is_file()
    assert (folder / "learned_embeds.safetensors").is_file()
    code = (
        "from pakati.understanding_store import UnderstandingStore; import sys; "
        f"u = UnderstandingStore({str(store)!r}).load({understanding.reference_id!r}); "
        "print(u.token, u.understanding_level, u.embedding_path)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0] == understanding.token
    assert float(out[1]) == pytest.approx(understanding.understanding_level, abs=1e-4)
    guidance = ReferenceUnderstandingEngine(
        model=object(),  # type: ignore[arg-type]
        progress=None,
        store=store,
    ).use_understood_reference(understanding.reference_id, "", ["lighting", "composition"])
    assert understanding.token in guidance.base_prompt and guidance.embeddings
    assert "lighting" in guidance.transferred and not guidance.not_transferred
    weighted = engine.use_understood_reference(
        understanding.reference_id, "", ["style"], token_weight=0.6
    )
    assert f"({understanding.token}:0.6)" in weighted.base_prompt
    engine.learn_reference(reference, ["quadrant_reveal", "edge_in"], 1)
    assert (folder / "previous" / "understanding.json").is_file()  # the old one is kept
    (folder / "learned_embeds.safetensors").write_bytes(b"broken")
    from pakati.understanding_store import UnderstandingStore

    with pytest.raises(InvalidInputError, match="corrupt"):
        UnderstandingStore(store).load(understanding.reference_id)
    with pytest.raises(InvalidInputError, match="learn_reference"):
        UnderstandingStore(store).load("0123456789ab")


@needs_model
def test_cli_understand_then_generate_understood_and_refine(tmp_path, capsys):
    scene = make_scene(5, n_objects=2)
    path = tmp_path / "ref.png"
    Image.fromarray(scene.image).save(path)
    store = tmp_path / "store"
    args = ["understand", str(path), "--strategies", "quadrant_reveal,edge_in"]
    args += ["--max-attempts", "1", "--steps", "2", "--token-steps", "2", "--json"]
    assert main([*args, "--store", str(store)]) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    reference_id = record["reference_id"]
    assert record["token"] == f"<ref-{reference_id}>" and record["embedding"]
    layout = {"width": 128, "height": 128, "model": "pakati-shapes", "steps": 4, "seed": 1}
    (tmp_path / "layout.json").write_text(json.dumps(layout))
    out = tmp_path / "guided.png"
    common = [str(tmp_path / "layout.json"), "--understood", reference_id]
    common += ["--understood-store", str(store), "--no-progress", "--json"]
    assert main(["generate", *common, "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    written = json.loads(out.with_suffix(".json").read_text())["layout"]
    assert written["embeddings"] == [{"path": record["embedding"], "token": record["token"]}]
    assert record["token"] in written["base_prompt"]
    stored = json.loads((store / reference_id / "understanding.json").read_text())
    assert [r["box"] for r in written["regions"]] == [
        o["box"] for o in stored["pathway"]["objects"]
    ]  # the pathway's boxes (composition)
    assert summary["image"] == str(out)
    refined = tmp_path / "refined.png"
    assert main(["generate", *common, "--refine", "1", "--out", str(refined)]) == 0
    captured = capsys.readouterr()
    assert "pass 0: quality" in captured.out + captured.err
    report = json.loads(captured.out.strip().splitlines()[-1])["refinement"]
    assert report["passes"][0]["pass"] == 0 and refined.is_file()
    assert main(["generate", *common[:1], "--refine", "1", "--out", str(tmp_path / "x.png")]) != 0
    assert "--reference" in capsys.readouterr().err
    bad = ["generate", *common[:1], "--understood", "nope0000", "--understood-store", str(store)]
    assert main([*bad, "--out", str(tmp_path / "y.png")]) != 0
    assert "no understood reference 'nope0000'" in capsys.readouterr().err
