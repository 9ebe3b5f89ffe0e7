"""LoRA adapters and textual-inversion embeddings on a canvas (``PakatiCanvas`` mixin).

They are part of the canvas's layout (``loras``, ``embeddings``), so a PNG's metadata names
them and an image regenerates with them. Loading goes through diffusers
(:mod:`pakati_engine.models.adapters`); a LoRA acts only on the canvases that list it, even
when several canvases share one loaded model.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pakati_engine.errors import InvalidInputError
from pakati_engine.models.adapters import adapter_name, load_lora, load_textual_inversion

if TYPE_CHECKING:
    from pakati_engine.layout import Layout
    from pakati_engine.models.bundle import ModelBundle


class AdaptersMixin:
    """``load_lora``, ``remove_lora``, ``load_textual_inversion`` for ``PakatiCanvas``."""

    if TYPE_CHECKING:  # provided by PakatiCanvas
        _layout: Layout

        def load(self) -> ModelBundle: ...
        def _update_layout(self, **changes: Any) -> None: ...

    def load_lora(self, path: str | Path, weight: float = 1.0, *, name: str | None = None) -> str:
        """Apply the LoRA at ``path`` (a ``.safetensors`` file, or a folder with
        ``pytorch_lora_weights.safetensors``) to this canvas's model at ``weight``; its name.

        Loading it again under its name changes only its weight.
        """
        source = str(path)
        chosen = name or adapter_name(source)
        load_lora(self.load(), source, chosen)  # errors (missing file, wrong model) now
        entries = [
            e.model_dump() for e in self._layout.loras if (e.name or adapter_name(e.path)) != chosen
        ]
        self._update_layout(loras=[*entries, {"path": source, "weight": weight, "name": chosen}])
        return chosen

    def remove_lora(self, name: str) -> None:
        """Stop applying LoRA ``name`` on this canvas (other canvases are not affected)."""
        kept = [e for e in self._layout.loras if (e.name or adapter_name(e.path)) != name]
        if len(kept) == len(self._layout.loras):
            names = ", ".join(e.name or adapter_name(e.path) for e in self._layout.loras)
            raise InvalidInputError(f"no LoRA {name!r} on this canvas (LoRAs: {names or 'none'})")
        self._update_layout(loras=[e.model_dump() for e in kept])

    @property
    def loras(self) -> dict[str, float]:
        """The canvas's LoRAs: name -> weight."""
        return {e.name or adapter_name(e.path): e.weight for e in self._layout.loras}

    def load_textual_inversion(self, path: str | Path, token: str) -> None:
        """Teach the model ``token`` (e.g. ``"<my-style>"``) from the embedding at ``path``;
        prompts that write the token get the learned concept."""
        load_textual_inversion(self.load(), str(path), token)
        entries = [e.model_dump() for e in self._layout.embeddings if e.token != token]
        self._update_layout(embeddings=[*entries, {"path": str(path), "token": token}])
