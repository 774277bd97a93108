"""Offline exports of what the instrument plays: the pad grid as WAV files plus SFZ, Decent Sampler and JSON maps."""
