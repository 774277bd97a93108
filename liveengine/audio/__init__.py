"""Audio backends (sounddevice, JACK, offline) behind one small interface, and the recorder."""
