"""Export your own PyTorch one-shot decoder to the liveengine model contract.

    pip install torch==2.13.0 onnx
    python export_pytorch_decoder.py            # writes mymodel/decoder.onnx

Replace `MyDecoder` with your model (it must map z[batch, latent_dim] to audio[batch, samples],
or to magnitude and phase for an STFT decoder), and fill in the latent statistics of your
training set if you have them. Then point a patch at the folder:
    [model]
    decoder = "mymodel"
and run `liveengine check that-patch.toml`.
"""

import json
from pathlib import Path

import onnx
import torch

LATENT_DIM = 16
SAMPLE_RATE = 44100
OUTPUT_LENGTH = 44100


class MyDecoder(torch.nn.Module):
    """Stand-in: a small MLP that makes a decaying noisy tone. Use your trained decoder here."""

    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(LATENT_DIM, 256), torch.nn.Tanh(), torch.nn.Linear(256, OUTPUT_LENGTH))
        self.register_buffer("envelope", torch.exp(-torch.arange(OUTPUT_LENGTH) / SAMPLE_RATE / 0.1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(z)) * self.envelope


def export(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    model = MyDecoder().eval()
    path = folder / "decoder.onnx"
    torch.onnx.export(model, (torch.zeros(1, LATENT_DIM),), str(path), input_names=["z"], output_names=["audio"],
                      dynamic_axes={"z": {0: "batch"}, "audio": {0: "batch"}}, opset_version=17,
                      dynamo=False)  # the TorchScript exporter needs no extra package (the newer one needs onnxscript)
    graph = onnx.load(str(path))
    metadata = {
        "contract": "1",
        "kind": "oneshot",
        "sample_rate": str(SAMPLE_RATE),
        "latent_dim": str(LATENT_DIM),
        "output_length": str(OUTPUT_LENGTH),
        "output": "audio",
        # From your training set's encodings (mean, first principal axes, their std devs):
        "latent.mean": json.dumps([0.0] * LATENT_DIM),
        "latent.axes": json.dumps([[1.0 if i == k else 0.0 for i in range(LATENT_DIM)] for k in range(2)]),
        "latent.spreads": json.dumps([1.0, 1.0]),
    }
    for key, value in metadata.items():
        graph.metadata_props.append(onnx.StringStringEntryProto(key=f"liveengine.{key}", value=value))
    onnx.save(graph, str(path))
    (folder / "README.md").write_text("# mymodel\n\nWhat it was trained on, under which licences, and how well it does.\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    export(Path("mymodel"))
