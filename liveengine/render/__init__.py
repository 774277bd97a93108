"""Rendering off the audio thread: decode, prepare buffers, fill the pad cache."""
