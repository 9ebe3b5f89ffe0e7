"""Memory switches on a canvas's model (``PakatiCanvas`` mixin), as diffusers pipelines
offer them: attention slicing, VAE tiling, model CPU offload
(:mod:`pakati_engine.models.memory`). They act on the loaded model, so on every canvas
that shares it, and change speed and memory, not what is drawn (beyond rounding)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pakati_engine.models import memory

if TYPE_CHECKING:
    from pakati_engine.models.bundle import ModelBundle


class MemoryMixin:
    """``enable_attention_slicing``, ``enable_vae_tiling``, ``enable_model_cpu_offload``."""

    if TYPE_CHECKING:  # provided by PakatiCanvas

        def load(self) -> ModelBundle: ...

    def enable_attention_slicing(self, slice_size: str | int = "auto") -> None:
        """Compute attention in slices: less GPU memory, a little slower."""
        memory.enable_attention_slicing(self.load(), slice_size)

    def disable_attention_slicing(self) -> None:
        memory.disable_attention_slicing(self.load())

    def enable_vae_tiling(self) -> None:
        """Decode in tiles: large canvases within less memory."""
        memory.enable_vae_tiling(self.load())

    def enable_model_cpu_offload(self, device: str = "cuda") -> None:
        """Weights stay in RAM; each model moves to ``device`` only while it runs."""
        memory.enable_model_cpu_offload(self.load(), device)
