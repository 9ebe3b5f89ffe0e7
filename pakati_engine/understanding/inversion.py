"""Learning a reference as a token: textual inversion (Gal et al., 2022) under observation masks.

A :class:`LearnedToken` adds ``vectors`` new tokens (``<tok>``, ``<tok>_1``, ...) to a
private copy of the model's tokenizer and text encoder, so the loaded model itself is never
changed, and optimises only their input embeddings with the model's own training loss: the
reference's latents are noised to random timesteps, the UNet predicts under a conditioning
that contains the token (a Pakati layout, routed region by region as at inference), and the
error is averaged over the latent cells the learner has *seen* only, so hidden pixels never
teach it. ``generator_bundle`` is the model with the token, for the regional pipeline.

The saved artefact is diffusers' textual-inversion format: a ``.safetensors`` file holding
``{token: (vectors, D)}``, which ``pipe.load_textual_inversion(path)`` loads as is (and
Pakati's layouts load through ``embeddings``). SD1.x-shaped models only: an SDXL embedding
needs vectors for both text encoders, not built here.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray

from pakati_engine.diffusion.attention import RegionalAttentionController, regional_attention
from pakati_engine.errors import InvalidInputError, ModelNotFoundError
from pakati_engine.generation import request_from_layout
from pakati_engine.layout import Layout
from pakati_engine.models.bundle import ModelBundle
from pakati_engine.regions.masks import stack_masks
from pakati_engine.training.conditioning import PromptEncoder

EMBEDDING_FILE = "learned_embeds.safetensors"


@dataclass(frozen=True)
class InversionSettings:
    """How a token is learned: ``steps`` optimisation steps per round, ``batch`` noise
    draws per step, Adam at ``lr``; ``vectors`` embedding vectors per token."""

    vectors: int = 2
    steps: int = 40
    batch: int = 4
    lr: float = 0.02
    seed: int = 0


def token_for(reference_id: str) -> str:
    return f"<ref-{reference_id}>"


class LearnedToken:
    """A token learned on one reference (see the module docstring)."""

    def __init__(
        self,
        bundle: ModelBundle,
        token: str,
        init_text: str,
        settings: InversionSettings = InversionSettings(),
        vectors: torch.Tensor | None = None,
    ) -> None:
        if bundle.kind != "sd":
            raise InvalidInputError(
                "learning a token needs an SD1.x-shaped model (one text encoder); "
                f"{bundle.source!r} is {bundle.kind.upper()}"
            )
        self.token = token
        self.settings = settings
        self.names = [token] + [f"{token}_{i}" for i in range(1, settings.vectors)]
        tokenizer: Any = copy.deepcopy(bundle.tokenizer)
        text_encoder: Any = copy.deepcopy(bundle.text_encoder)
        self._vocabulary = text_encoder.get_input_embeddings().weight.detach().clone()
        tokenizer.add_tokens(self.names)
        text_encoder.resize_token_embeddings(len(tokenizer), mean_resizing=False)
        self.ids = [int(i) for i in tokenizer.convert_tokens_to_ids(self.names)]
        if vectors is None:
            vectors = self._initial(bundle, init_text)
        if tuple(vectors.shape) != (settings.vectors, self._vocabulary.shape[1]):
            raise InvalidInputError(
                f"the embedding has shape {tuple(vectors.shape)}; this model needs "
                f"({settings.vectors}, {self._vocabulary.shape[1]})"
            )
        self.vectors = torch.nn.Parameter(vectors.detach().clone().float())
        text_encoder.get_input_embeddings().register_forward_hook(self._substitute)
        self.bundle = dataclasses.replace(
            bundle, tokenizer=tokenizer, text_encoder=text_encoder, adapters={}
        )
        self._optimizer = torch.optim.Adam([self.vectors], lr=settings.lr)
        self._generator = torch.Generator().manual_seed(settings.seed)
        self.steps_done = 0
        self.losses: list[float] = []

    @property
    def text(self) -> str:
        """The token as written in a prompt of the private model (every vector named)."""
        return " ".join(self.names)

    def _initial(self, bundle: ModelBundle, init_text: str) -> torch.Tensor:
        tokenizer: Any = bundle.tokenizer
        ids = tokenizer(init_text or "background", add_special_tokens=False).input_ids
        if not ids:
            ids = tokenizer("background", add_special_tokens=False).input_ids
        mean = self._vocabulary[torch.tensor(ids)].mean(0)  # (D,)
        return mean.expand(self.settings.vectors, -1).clone()

    def _substitute(
        self, module: torch.nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor
    ) -> torch.Tensor:
        ids = inputs[0]  # (M, L)
        for k, token_id in enumerate(self.ids):
            here = (ids == token_id).unsqueeze(-1)  # (M, L, 1)
            output = torch.where(here, self.vectors[k].to(output.dtype), output)
        return output

    # Training ---------------------------------------------------------------------------

    def train_round(
        self,
        image: NDArray[np.uint8],
        seen: NDArray[np.bool_],
        layout: Layout,
        steps: int | None = None,
    ) -> float:
        """``steps`` optimisation steps on the seen pixels of ``image`` under ``layout``
        (whose prompts should contain :attr:`text`); the mean loss of the round."""
        bundle = self.bundle
        steps = self.settings.steps if steps is None else steps
        request = request_from_layout(layout, bundle.recommended)
        shown = image.copy()
        shown[~seen] = 127  # what the learner was never shown cannot reach it (nor a VAE)
        latents = self._encode(shown)  # (1, C, h, w)
        scale = bundle.vae_scale_factor
        latent_size = (latents.shape[-2], latents.shape[-1])
        seen_t = torch.from_numpy(seen.astype(np.float32))[None, None]  # (1, 1, H, W)
        weight = -F.max_pool2d(-seen_t, scale) if scale > 1 else seen_t  # cells wholly seen
        if weight.sum() == 0:
            raise InvalidInputError("no latent cell is wholly seen: nothing to learn from")
        encoder = PromptEncoder(bundle.tokenizer, bundle.text_encoder)
        prompts = [request.prompt, *(r.prompt for r in request.regions)]
        controller = None
        if request.regions:
            stacked = stack_masks([r.mask for r in request.regions])
            controller = RegionalAttentionController(
                visible=torch.from_numpy(stacked.visible)[None],  # (1, N, H, W)
                background=torch.from_numpy(stacked.background)[None],  # (1, H, W)
                tokens_per_prompt=encoder.span,
                latent_size=latent_size,
                base_ratio=request.base_ratio,
            )
        schedule = bundle.scheduler.alphas_cumprod
        kind = bundle.scheduler.config.prediction_type
        batch = self.settings.batch
        losses = []
        bundle.unet.eval()
        for _ in range(steps):
            t = torch.randint(0, len(schedule), (batch,), generator=self._generator)
            noise = torch.randn((batch, *latents.shape[1:]), generator=self._generator)
            alpha = schedule[t].view(-1, 1, 1, 1).to(latents.dtype)
            noisy = alpha.sqrt() * latents + (1 - alpha).sqrt() * noise  # (B, C, h, w)
            embeddings = encoder([prompts] * batch)  # (B, (N+1)*span, D)
            if controller is not None:
                with regional_attention(bundle.unet, controller):
                    output = bundle.unet(noisy, t, encoder_hidden_states=embeddings).sample
            else:
                output = bundle.unet(noisy, t, encoder_hidden_states=embeddings).sample
            if kind == "sample":
                target = latents.expand_as(output)
            elif kind == "v_prediction":
                target = alpha.sqrt() * noise - (1 - alpha).sqrt() * latents
            else:
                target = noise
            error = ((output - target) ** 2).mean(1, keepdim=True)  # (B, 1, h, w)
            loss = (error * weight).sum() / (weight.sum() * batch)
            self._optimizer.zero_grad()
            loss.backward()
            self._optimizer.step()
            losses.append(float(loss.detach()))
        self.steps_done += steps
        mean = float(np.mean(losses)) if losses else float("nan")
        self.losses.append(mean)
        return mean

    @torch.no_grad()
    def _encode(self, image: NDArray[np.uint8]) -> torch.Tensor:
        bundle = self.bundle
        pixels = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 127.5 - 1.0
        if bundle.vae is None:
            return pixels
        vae_scale = float(getattr(bundle.vae.config, "scaling_factor", 1.0))
        return bundle.vae.encode(pixels.to(bundle.dtype)).latent_dist.mode() * vae_scale

    # Inspection and saving --------------------------------------------------------------

    def nearest_words(self, k: int = 5, words: Sequence[str] | None = None) -> list[list[str]]:
        """Per vector, the ``k`` vocabulary words whose input embeddings are nearest by
        cosine; ``words`` restricts the candidates (single-token words only)."""
        return nearest_words(self.bundle.tokenizer, self._vocabulary, self.vectors, k, words)

    def save(self, path: Path) -> Path:
        """Write the embedding in diffusers' format (``{token: (vectors, D)}``)."""
        from safetensors.torch import save_file

        path.parent.mkdir(parents=True, exist_ok=True)
        save_file({self.token: self.vectors.detach().clone().contiguous()}, str(path))
        return path


def nearest_words(
    tokenizer: object,
    vocabulary: torch.Tensor,
    vectors: torch.Tensor,
    k: int = 5,
    words: Sequence[str] | None = None,
) -> list[list[str]]:
    """Per row of ``vectors``, the ``k`` nearest rows of ``vocabulary`` (cosine), as words."""
    table = F.normalize(vocabulary.float(), dim=-1)  # (V, D)
    if words is not None:
        ids = []
        for word in words:
            found = tokenizer(word, add_special_tokens=False).input_ids  # type: ignore[operator]
            if len(found) == 1 and found[0] < len(table):
                ids.append(int(found[0]))
        candidates = torch.tensor(sorted(set(ids)), dtype=torch.long)
    else:
        candidates = torch.arange(len(table))
    if len(candidates) == 0:
        return [[] for _ in range(len(vectors))]
    sims = F.normalize(vectors.detach().float(), dim=-1) @ table[candidates].T  # (n, V')
    top = sims.topk(min(k, len(candidates)), dim=-1).indices
    convert = tokenizer.convert_ids_to_tokens  # type: ignore[attr-defined]
    return [
        [str(convert(int(candidates[i]))).replace("</w>", "") for i in row] for row in top.tolist()
    ]


def load_vectors(path: Path, token: str | None = None) -> tuple[str, torch.Tensor]:
    """(token, vectors) of a saved embedding; a clear error when missing or corrupt."""
    if not path.is_file():
        raise ModelNotFoundError(f"learned embedding {str(path)!r} does not exist")
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise InvalidInputError(
            f"learned embedding {str(path)!r} is corrupt ({error}); learn the reference "
            "again (pakati understand)"
        ) from error
    if len(state) != 1:
        raise InvalidInputError(
            f"learned embedding {str(path)!r} should hold one token, it holds {len(state)}"
        )
    name, vectors = next(iter(state.items()))
    if token is not None and name != token:
        raise InvalidInputError(f"{str(path)!r} holds token {name!r}, not {token!r}")
    if vectors.ndim == 1:
        vectors = vectors[None]
    return name, vectors
