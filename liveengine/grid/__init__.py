"""Pad -> latent point mappings."""
