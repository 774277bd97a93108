"""Test and benchmark support: the JACK dummy-server rig. Not used by the engine itself."""
