"""Decoders turn latent points into audio. See base.Decoder for the protocol."""
