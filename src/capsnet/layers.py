"""The pieces of a capsule network: squash, primary capsules, routing by agreement, margin loss.

Sabour, Frosst & Hinton (2017), "Dynamic Routing Between Capsules". Shapes are written as
(batch, capsules, dimensions); equation numbers are the paper's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# Keeps the gradient of the norm finite at s = 0 (a zero vector has no direction).
_EPS = 1e-8


def squash(s: Tensor, dim: int = -1) -> Tensor:
    """Eq. 1: v = |s|² / (1 + |s|²) · s / |s| — same direction, length in [0, 1)."""
    squared = (s * s).sum(dim=dim, keepdim=True)
    return s * (squared / (1.0 + squared) / torch.sqrt(squared + _EPS))


class PrimaryCaps(nn.Module):
    """A convolution whose output channels are grouped into ``types`` capsules of ``dim`` numbers.

    Every position of the output grid holds one capsule of each type, so a 6x6 grid of 32 types
    is the paper's 1152 8-D capsules. Output: (batch, grid·grid·types, dim), squashed.
    """

    def __init__(self, in_channels: int, types: int, dim: int, kernel: int = 9, stride: int = 2):
        super().__init__()
        self.types, self.dim = types, dim
        self.conv = nn.Conv2d(in_channels, types * dim, kernel, stride)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv(x)  # (B, types*dim, H, W)
        b, _, h, w = out.shape
        out = out.view(b, self.types, self.dim, h, w).permute(0, 1, 3, 4, 2)
        return squash(out.reshape(b, self.types * h * w, self.dim))


def route(u_hat: Tensor, iterations: int) -> tuple[Tensor, Tensor]:
    """Procedure 1 (routing by agreement) over predictions ``u_hat`` (B, out, in, dim_out).

    Returns the output capsules v (B, out, dim_out) and the coupling coefficients c (B, out, in).
    The logits b start at zero (every lower capsule couples equally to every output); each
    iteration raises b_ij by the agreement u_hat_j|i · v_j. As in the paper, gradients flow
    through every iteration (some implementations detach the intermediate ones).
    """
    if iterations < 1:
        raise ValueError("routing needs at least one iteration")
    # Layout (B, out, in, dim): both weighted sums below are then batched matrix products over
    # contiguous memory; a broadcast multiply-and-sum was 45 % of a training step on a CPU.
    logits = u_hat.new_zeros(u_hat.shape[:3])
    for i in range(iterations):
        coupling = F.softmax(logits, dim=1)  # Eq. 3: each lower capsule's softmax over the outputs j
        v = squash(torch.matmul(coupling.unsqueeze(2), u_hat).squeeze(2))  # Eq. 2 and 1
        if i < iterations - 1:
            logits = logits + torch.matmul(u_hat, v.unsqueeze(-1)).squeeze(-1)
    return v, coupling


class DigitCaps(nn.Module):
    """One capsule per class: every lower capsule i predicts every class capsule j as W_ij u_i."""

    def __init__(self, in_capsules: int, in_dim: int, out_capsules: int, out_dim: int, iterations: int = 3):
        super().__init__()
        self.iterations = iterations
        # The paper's TF code initialises W with a small normal; std 0.01 as in most reproductions.
        self.weight = nn.Parameter(0.01 * torch.randn(in_capsules, out_capsules * out_dim, in_dim))
        self.out_capsules, self.out_dim = out_capsules, out_dim
        self.last_coupling: Tensor | None = None

    def predictions(self, u: Tensor) -> Tensor:
        """u_hat_j|i = W_ij u_i: (B, in, in_dim) -> (B, out, in, out_dim)."""
        n_in = self.weight.shape[0]
        u_hat = torch.matmul(self.weight, u.permute(1, 2, 0))  # (in, out·dim, B): one product per lower capsule
        return u_hat.view(n_in, self.out_capsules, self.out_dim, -1).permute(3, 1, 0, 2).contiguous()

    def forward(self, u: Tensor) -> Tensor:
        v, coupling = route(self.predictions(u), self.iterations)
        self.last_coupling = coupling.detach()
        return v


def margin_loss(lengths: Tensor, targets: Tensor, m_plus: float = 0.9, m_minus: float = 0.1, lam: float = 0.5) -> Tensor:
    """Eq. 4, summed over classes and averaged over the batch.

    ``targets`` is (B, classes) with 1 where a class is present (two ones for MultiMNIST).
    """
    present = targets * F.relu(m_plus - lengths).pow(2)
    absent = lam * (1.0 - targets) * F.relu(lengths - m_minus).pow(2)
    return (present + absent).sum(dim=1).mean()


def mask(v: Tensor, labels: Tensor) -> Tensor:
    """Zero every class capsule except ``labels``' (B,): the decoder sees one capsule, (B, classes·dim)."""
    keep = F.one_hot(labels, v.shape[1]).to(v.dtype).unsqueeze(-1)
    return (v * keep).flatten(1)
