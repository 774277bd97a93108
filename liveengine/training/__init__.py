"""Training the drum model (extra `train`: PyTorch CPU build). The engine never imports this package."""
