"""The user's sample library in latent space: an on-disk index of encoded sounds, and nearest-sound search."""
