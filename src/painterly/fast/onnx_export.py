"""ONNX export of a fast style, and an ONNX Runtime session to apply it.

The exported graph is the network on an already padded input (:func:`network.pad`), with the
height and width dynamic; padding and cropping stay in Python, where they are cheap.
"""

from __future__ import annotations

import io
import warnings

import torch
from torch import nn

from .model_file import FastStyle

OPSET = 17
INPUT, OUTPUT = "padded_image", "padded_output"


class _Padded(nn.Module):
    def __init__(self, network: nn.Module):
        super().__init__()
        self.network = network

    def forward(self, padded: torch.Tensor) -> torch.Tensor:
        return self.network.padded_forward(padded)  # type: ignore[operator]  # a TransformNet method


def onnx_bytes(style: FastStyle) -> bytes:
    """The style's network as an ONNX model (opset 17), inputs (1,3,H,W) with H, W multiples of 8."""
    network = style.network.to("cpu").eval()
    example = torch.rand(1, 3, 64, 96)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript-based exporter warns that it is deprecated; it needs no extra packages
        # and handles this plain convolutional graph exactly.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Padded(network), (example,), buffer,  # type: ignore[arg-type]  # a file object works
            input_names=[INPUT], output_names=[OUTPUT],
            dynamic_axes={INPUT: {0: "batch", 2: "height", 3: "width"}, OUTPUT: {0: "batch", 2: "height", 3: "width"}},
            opset_version=OPSET, dynamo=False,
        )
    return buffer.getvalue()
