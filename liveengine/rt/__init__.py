"""The real-time path: only what runs inside the audio callback lives here."""
