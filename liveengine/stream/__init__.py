"""Streaming voices: a stateful model called once per frame, and the DSP around it (synthesis, pitch tracking)."""
