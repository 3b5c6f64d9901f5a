"""ONNX export of a fast style, and an ONNX Runtime session to apply it.

The exported graph is the network on an already padded input (:func:`network.pad`), with the
height and width dynamic; padding and cropping stay in Python, where they are cheap. Networks with a
full-resolution stage are exported in the form of :mod:`.polyphase` (the same picture, without
copying full-size feature maps); ``phases=True`` leaves the output's four phases for the caller to interleave, as
`fast apply` does, since ONNX Runtime's DepthToSpace is slower than numpy's copy (~10 ms of 0.13 s).
"""

from __future__ import annotations

import io
import warnings

import torch
from torch import nn

from .model_file import FastStyle
from .onnx_names import INPUT, OUTPUT, PHASES_OUTPUT
from .polyphase import PolyphaseNet, supports

OPSET = 17


class _Padded(nn.Module):
    def __init__(self, network: nn.Module):
        super().__init__()
        self.network = network

    def forward(self, padded: torch.Tensor) -> torch.Tensor:
        return self.network.padded_forward(padded)  # type: ignore[operator]  # a TransformNet method


_OUTPUT_AXES = {OUTPUT: {0: "batch", 2: "height", 3: "width"}, PHASES_OUTPUT: {0: "batch", 2: "half_height", 3: "half_width"}}


def onnx_bytes(style: FastStyle, *, phases: bool = False) -> bytes:
    """The style's network as an ONNX model (opset 17), inputs (1,3,H,W) with H, W multiples of 8.

    The output is named OUTPUT, (1,3,H,W), or, with ``phases`` and a network that has a
    full-resolution stage, PHASES_OUTPUT, (1,12,H/2,W/2).
    """
    network = style.network.to("cpu").eval()
    module: nn.Module = _Padded(network)
    output = OUTPUT
    if supports(network):
        module = PolyphaseNet(network, interleave=not phases).eval()
        output = PHASES_OUTPUT if phases else OUTPUT
    example = torch.rand(1, 3, 64, 96)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript-based exporter warns that it is deprecated; it needs no extra packages
        # and handles this plain convolutional graph exactly.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module, (example,), buffer,  # type: ignore[arg-type]  # a file object works
            input_names=[INPUT], output_names=[output],
            dynamic_axes={INPUT: {0: "batch", 2: "height", 3: "width"}, output: _OUTPUT_AXES[output]},
            opset_version=OPSET, dynamo=False,
        )
    return buffer.getvalue()
