"""Export a drum decoder's gradient graph, `decoder_grad.onnx`, so the engine can fit z to a sound.

    python -m liveengine.training.export_grad --checkpoint checkpoints/drums.pt --out models_onnx/drums

The graph is the decoder's vector-Jacobian product: given z and the gradient of a loss with
respect to the decoder's outputs (magnitude_grad, phase_grad), it returns the gradient with
respect to z (z_grad). The engine computes the loss and its gradient up to the decoder's outputs
in numpy (liveengine/decoders/fit.py), so no autograd runs at play time.

torch.onnx cannot export autograd directly: the backward pass is traced into plain aten ops by
make_fx, and the two backward ops the ONNX exporter lacks (a 1-D convolution's input gradient and
nearest-neighbour upsampling's) are written out here as a transposed convolution and a sum.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn

from liveengine.training.model import DrumVAE
from liveengine.training.train import config_from, load

OPSET = 18
aten = torch.ops.aten


def _conv_input_grad(grad_out, inp, weight, bias_sizes, stride, padding, dilation, transposed, output_padding, groups, mask):
    """aten.convolution_backward for what the decoder has: 1-D, one group, no dilation, weights frozen."""
    if transposed or groups != 1 or inp.dim() != 3 or list(dilation) != [1] or mask[1] or mask[2]:
        raise NotImplementedError("decoder_grad export handles plain 1-D convolutions with frozen weights only")
    extra = inp.shape[2] - ((grad_out.shape[2] - 1) * stride[0] - 2 * padding[0] + weight.shape[2])
    grad = torch.nn.functional.conv_transpose1d(grad_out, weight, stride=stride[0], padding=padding[0], output_padding=extra)
    return grad, None, None


def _upsample_grad(grad, output_size, input_size, scales=None):
    """aten.upsample_nearest1d_backward for the decoder's x2 nearest upsampling."""
    batch, channels, length = input_size
    if output_size[0] != 2 * length:
        raise NotImplementedError("decoder_grad export handles x2 nearest upsampling only")
    return grad.reshape(batch, channels, length, 2).sum(-1)


class _Traced(nn.Module):
    def __init__(self, graph) -> None:
        super().__init__()
        self.traced = graph

    def forward(self, *inputs):
        return self.traced(*inputs)


def export_with_gradients(fn, example: tuple, path: Path, input_names: list[str], output_names: list[str]) -> None:
    """`fn` (which may call torch.autograd.grad) as ONNX at `path`, every input with a dynamic batch axis: its forward
    and backward passes traced together into plain aten operators by make_fx, then exported."""
    import torch._decomp
    from torch.fx.experimental.proxy_tensor import make_fx

    table = dict(torch._decomp.core_aten_decompositions())
    table[aten.convolution_backward.default] = _conv_input_grad
    table[aten.upsample_nearest1d_backward.default] = _upsample_grad
    traced = make_fx(fn, tracing_mode="symbolic", decomposition_table=table, _allow_non_fake_inputs=True)(*example)
    batch = torch.export.Dim("batch")
    # optimize=False: the exporter's own graph pass took 3 of the export's 7 s; onnxruntime optimises the graph at load
    # anyway (the same z_grad to the bit, the same 22 ms for 8 sounds, a file 4% larger)
    temporary = [f"{name}__output" for name in output_names]  # the traced graph may name an inner value "mean" already
    torch.onnx.export(_Traced(traced).eval(), example, str(path), input_names=input_names, output_names=temporary,
                      dynamic_shapes=(tuple({0: batch} for _ in input_names),),  # one entry: forward(*inputs)
                      dynamo=True, optimize=False, opset_version=OPSET, external_data=False, verbose=False)
    _tidy(path, dict(zip(temporary, output_names)))


def _tidy(path: Path, names: dict[str, str]) -> None:
    """Give the graph's outputs their contract names (an inner value that had one gets another), drop the exporter's
    notes on every node (its stack traces: a third of the file) and keep one copy of identical weights (the two
    encoders' DFT bases)."""
    import hashlib

    import onnx

    model = onnx.load(str(path))
    graph = model.graph
    taken = {**{new: f"{new}__inner" for new in names.values()}, **names}
    kept: dict[tuple, str] = {}
    dropped: set[str] = set()
    for tensor in list(graph.initializer):
        key = (tensor.data_type, tuple(tensor.dims), hashlib.sha256(tensor.raw_data).hexdigest())
        if tensor.raw_data and key in kept:
            taken[tensor.name] = kept[key]
            dropped.add(tensor.name)
            graph.initializer.remove(tensor)
        else:
            kept[key] = tensor.name

    def fix(values):
        for i, value in enumerate(values):
            if value in taken:
                values[i] = taken[value]

    for node in graph.node:
        fix(node.input)
        fix(node.output)
        del node.metadata_props[:]
    for value in list(graph.value_info):
        if value.name in dropped:  # a dropped copy's shape: its kept twin has one
            graph.value_info.remove(value)
    for value in list(graph.output) + list(graph.value_info):
        value.name = taken.get(value.name, value.name)
    onnx.save(model, str(path))


def export_decoder_grad(decoder: nn.Module, latent_dim: int, bins: int, frames: int, path: Path) -> None:
    """`decoder`'s vector-Jacobian product as ONNX at `path`: (z, magnitude_grad, phase_grad) -> z_grad, dynamic batch."""
    decoder.eval()
    for p in decoder.parameters():
        p.requires_grad_(False)

    def vjp(z, magnitude_grad, phase_grad):
        z = z.detach().requires_grad_(True)
        with torch.enable_grad():
            magnitude, phase = decoder(z)
            (grad,) = torch.autograd.grad((magnitude, phase), z, grad_outputs=(magnitude_grad, phase_grad))
        return grad

    example = (torch.zeros(2, latent_dim), torch.zeros(2, bins, frames), torch.zeros(2, bins, frames))
    export_with_gradients(vjp, example, path, ["z", "magnitude_grad", "phase_grad"], ["z_grad"])


def stamp(path: Path, decoder: Path) -> None:
    """Name `decoder` (its SHA-256) in the gradient graph's metadata: the engine refuses the pair unless it matches."""
    import hashlib

    import onnx

    graph = onnx.load(str(path))
    del graph.metadata_props[:]
    graph.metadata_props.append(onnx.StringStringEntryProto(key="liveengine.decoder_sha256",
                                                            value=hashlib.sha256(decoder.read_bytes()).hexdigest()))
    onnx.save(graph, str(path))


def export_for(model: DrumVAE, out: Path) -> Path:
    """decoder_grad.onnx beside the model folder's decoder.onnx (exported from the same weights), naming it."""
    cfg = model.cfg
    if not (out / "decoder.onnx").exists():
        raise SystemExit(f"{out} has no decoder.onnx; export the model there first (python -m liveengine.training.export)")
    path = out / "decoder_grad.onnx"
    export_decoder_grad(model.decoder, cfg.latent_dim, cfg.bins, cfg.frames, path)
    stamp(path, out / "decoder.onnx")
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Add decoder_grad.onnx (the decoder's gradient, for fitting z to a sound) to a model folder.")
    parser.add_argument("--checkpoint", type=Path, default=Path("checkpoints/drums.pt"))
    parser.add_argument("--out", type=Path, default=Path("models_onnx/drums"), help="the model folder exported from this checkpoint")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    model = DrumVAE(config_from(args.checkpoint))
    load(args.checkpoint, model, None)
    path = export_for(model, args.out)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
