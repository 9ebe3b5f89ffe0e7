"""Training Pakati's embedded text-to-image model on the shapes world.

``python -m pakati_engine.training.train_t2i --out DIR --minutes M [--resume]`` trains a
pixel-space UNet the way the engine uses it: through the regional cross-attention
processors, with region boxes from the world's layouts (see :mod:`.train_t2i`).
"""
