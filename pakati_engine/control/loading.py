"""Finding and loading ControlNets: a shipped name, a local folder, or a cached hub id.

Like models, ControlNets are never downloaded: ``pakati-shapes-outline`` ships with Pakati
(trained by ``pakati_engine.training.train_controlnet`` on the embedded model), a local
diffusers ``ControlNetModel`` folder is used as it is, and a Hugging Face id is looked up in
the local cache only.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from pakati_engine.errors import InvalidInputError, ModelNotFoundError
from pakati_engine.models.catalog import cached_snapshots, hub_cache_dir

if TYPE_CHECKING:
    import torch
    from diffusers import ControlNetModel

    from pakati_engine.models.bundle import ModelBundle

#: ControlNets shipped with Pakati: name -> folder.
SHIPPED_CONTROLNETS: dict[str, Path] = {
    "pakati-shapes-outline": Path(__file__).parent.parent
    / "models"
    / "weights"
    / "shapes-outline-controlnet",
}

CARD_FILE = "pakati.json"


def _is_controlnet_folder(folder: Path) -> bool:
    config = folder / "config.json"
    if not config.is_file():
        return False
    try:
        name = json.loads(config.read_text()).get("_class_name", "")
    except (OSError, ValueError, AttributeError):
        return False
    return "ControlNet" in str(name)


def _cached_controlnet(repo_id: str) -> Path | None:
    for candidate in cached_snapshots(repo_id, hub_cache_dir()):
        for folder in (candidate, candidate / "controlnet"):
            if _is_controlnet_folder(folder):
                return folder
    return None


def resolve_controlnet(name: str) -> Path:
    """The folder of ControlNet ``name``, or a clear error saying where Pakati looked."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError(
            f"controlnet must be a name, a folder or a hub id, got {name!r}; shipped: "
            f"{', '.join(SHIPPED_CONTROLNETS)}"
        )
    shipped = SHIPPED_CONTROLNETS.get(name.lower())
    if shipped is not None:
        if not _is_controlnet_folder(shipped):
            raise ModelNotFoundError(
                f"the shipped ControlNet {name!r} is not in this installation (looked in "
                f"{str(shipped)!r}); train it with "
                "`python -m pakati_engine.training.train_controlnet`"
            )
        return shipped
    path = Path(name).expanduser()
    if path.exists():
        if path.is_dir() and _is_controlnet_folder(path):
            return path
        raise ModelNotFoundError(
            f"{str(path)!r} is not a diffusers ControlNet folder (it needs a config.json "
            "whose _class_name is ControlNetModel, beside the weights)"
        )
    parts = name.split("/")
    if len(parts) == 2 and all(parts):
        cached = _cached_controlnet(name)
        if cached is not None:
            return cached
    raise ModelNotFoundError(
        f"unknown ControlNet {name!r}: not a shipped one ({', '.join(SHIPPED_CONTROLNETS)}), "
        f"not a local ControlNet folder, and not a hub id in the local Hugging Face cache "
        f"({str(hub_cache_dir())!r}). Pakati never downloads: pass a local folder, or run "
        f"`hf download {name}` on a connected machine and copy the cache."
    )


def read_card(folder: Path) -> dict[str, object]:
    """The ``pakati.json`` beside a ControlNet (what it was trained on), if any."""
    card = folder / CARD_FILE
    if not card.is_file():
        return {}
    try:
        data = json.loads(card.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def load_controlnet(name: str, bundle: ModelBundle) -> ControlNetModel:
    """ControlNet ``name`` on the bundle's device and dtype, checked to fit its UNet."""
    folder = resolve_controlnet(name)
    controlnet = _load(str(folder.resolve()), str(bundle.device), bundle.dtype)
    unet = bundle.unet.config
    mine = controlnet.config
    fits = (
        mine.cross_attention_dim == unet.cross_attention_dim
        and tuple(mine.block_out_channels) == tuple(unet.block_out_channels)
        and mine.in_channels == min(unet.in_channels, unet.out_channels)
    )
    if not fits:
        raise InvalidInputError(
            f"ControlNet {name!r} does not fit the model {bundle.source!r} (its blocks "
            f"{tuple(mine.block_out_channels)} and text width {mine.cross_attention_dim}; "
            f"the UNet's {tuple(unet.block_out_channels)} and {unet.cross_attention_dim}): "
            "use a ControlNet made for this model family (SD1.x, SDXL, pakati-shapes)"
        )
    return controlnet


@lru_cache(maxsize=4)
def _load(folder: str, device: str, dtype: torch.dtype) -> ControlNetModel:
    from diffusers import ControlNetModel

    model = ControlNetModel.from_pretrained(folder, torch_dtype=dtype)
    return model.to(device).eval().requires_grad_(False)
