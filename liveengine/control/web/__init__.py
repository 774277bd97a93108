"""The web panel: the grid, the map and the knobs in a browser (`liveengine play --web`)."""
