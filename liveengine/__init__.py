"""liveengine: play a neural decoder's latent space from a grid of pads."""

__version__ = "0.1.0"
