"""The names of an exported style graph's input and outputs, shared by the exporter (which needs
torch) and the painter that runs without it."""

INPUT = "padded_image"  # (N, 3, H, W), padded as network.pad pads
OUTPUT = "padded_output"  # (N, 3, H, W), to crop as the input was padded
# (N, 12, H/2, W/2): the padded picture's four pixel phases (polyphase.py), which
# onnx_apply.interleave puts in place. Only onnx_bytes(phases=True) of a network with a
# full-resolution stage gives it.
PHASES_OUTPUT = "padded_output_phases"
