"""Training the drum model, and `liveengine train` on a user's folder (extra `train`: PyTorch CPU build).

The engine never imports PyTorch: cli.py (the `train` command's arguments and checks), folder_data.py and
data.py need none; train.py, model.py, export.py, own.py and baseline.py import torch and are loaded only
once a training runs (tests/test_engine_without_torch.py checks it).
"""
