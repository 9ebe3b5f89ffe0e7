"""Models: finding and loading them, devices, the pixel VAE, tiny test models, tokenizer
files and the shipped weights. Import the submodule you need (``models.catalog`` is
light; ``models.loading`` imports torch and diffusers)."""
