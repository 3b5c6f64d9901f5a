"""Colour helpers for colour preservation (Gatys et al. 2016, "Preserving Color in Neural Artistic
Style Transfer"). Pure functions on (1, 3, H, W) or (3, H, W) tensors in [0, 1]; inputs are
never modified.
"""

from __future__ import annotations

import torch

from .errors import ParameterError

__all__ = ["match_histogram", "rgb_to_yiq", "single_chroma", "transfer_luminance", "with_chroma", "yiq_to_rgb"]

# FCC NTSC YIQ (the colour space of Gatys et al. 2016). The inverse is computed, not rounded
# from a table, so that RGB -> YIQ -> RGB is exact to float precision.
RGB_TO_YIQ = torch.tensor(
    [
        [0.299, 0.587, 0.114],
        [0.5959, -0.2746, -0.3213],
        [0.2115, -0.5227, 0.3112],
    ],
    dtype=torch.float64,
)
_YIQ_TO_RGB = torch.linalg.inv(RGB_TO_YIQ)


def rgb_to_yiq(t: torch.Tensor) -> torch.Tensor:
    """RGB -> YIQ (Y is luminance in [0, 1]; I and Q are signed chroma)."""
    return _apply_matrix(RGB_TO_YIQ, _check_image(t, "t"))


def yiq_to_rgb(t: torch.Tensor) -> torch.Tensor:
    """YIQ -> RGB, the exact inverse of :func:`rgb_to_yiq` (no clamping)."""
    return _apply_matrix(_YIQ_TO_RGB, _check_image(t, "t"))


def transfer_luminance(stylized: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The stylized image's luminance (Y) with the content's chroma (I, Q), clamped to [0, 1].

    This is the luminance-only colour preservation of Gatys et al. 2016: the style changes the
    brightness pattern while the colours stay those of the photo.
    """
    _check_image(stylized, "stylized")
    _check_image(content, "content")
    if stylized.shape[-2:] != content.shape[-2:]:
        got, want = tuple(content.shape[-2:]), tuple(stylized.shape[-2:])
        raise ParameterError(f"content: size {got} differs from the stylized image's {want}")
    y = rgb_to_yiq(stylized)[..., :1, :, :]
    iq = rgb_to_yiq(content.to(stylized.device, stylized.dtype))[..., 1:, :, :]
    if y.dim() != iq.dim():  # one is (3, H, W), the other (1, 3, H, W): answer like stylized
        iq = iq.reshape(y.shape[:-3] + iq.shape[-3:])
    return yiq_to_rgb(torch.cat([y, iq], dim=-3)).clamp(0, 1)


# A painting whose chroma (YIQ's I and Q) varies less than this across its pixels has no colours:
# a pencil or charcoal drawing (~0.001), a grey photo of a painting. (A sepia print does not
# count: its chroma grows with its brightness.) Its one chroma is put on the whole picture.
MONOCHROME_SPREAD = 0.01


def single_chroma(image: torch.Tensor) -> torch.Tensor | None:
    """The (I, Q) chroma of an image of (nearly) one colour, such as a pencil drawing, as a (2,)
    tensor; None for an image with colours."""
    iq = rgb_to_yiq(image).reshape(3, -1)[1:]
    if float(iq.std(dim=1).max()) > MONOCHROME_SPREAD:
        return None
    return iq.mean(dim=1)


def with_chroma(image: torch.Tensor, chroma: torch.Tensor) -> torch.Tensor:
    """``image``'s luminance with one chroma (I, Q) everywhere, clamped to [0, 1]."""
    yiq = rgb_to_yiq(image)
    iq = chroma.to(yiq.device, yiq.dtype).reshape(2, 1, 1).expand(*yiq.shape[:-3], 2, *yiq.shape[-2:])
    return yiq_to_rgb(torch.cat([yiq[..., :1, :, :], iq], dim=-3)).clamp(0, 1)


def match_histogram(
    source: torch.Tensor, reference: torch.Tensor, *, eps: float = 1e-5
) -> torch.Tensor:
    """``source`` with the mean and colour covariance of ``reference`` (clamped to [0, 1]).

    The linear colour transfer of Gatys et al. 2016: x' = A (x - mu_s) + mu_r with
    A = Sigma_r^(1/2) Sigma_s^(-1/2) (the symmetric "image analogies" variant, which unlike a
    Cholesky factor does not depend on the channel order). ``eps`` keeps a flat or grey source,
    whose covariance is singular, from blowing up.
    """
    _check_image(source, "source")
    _check_image(reference, "reference")
    x = source.detach().to(torch.float64).reshape(3, -1)
    r = reference.detach().to(source.device, torch.float64).reshape(3, -1)
    mu_s, mu_r = x.mean(dim=1, keepdim=True), r.mean(dim=1, keepdim=True)
    eye = torch.eye(3, dtype=torch.float64, device=x.device)
    cov_s = torch.cov(x) + eps * eye
    cov_r = torch.cov(r)
    a = _sym_power(cov_r, 0.5) @ _sym_power(cov_s, -0.5)
    out = a @ (x - mu_s) + mu_r
    return out.reshape(source.shape).clamp(0, 1).to(source.dtype)


def _sym_power(m: torch.Tensor, power: float) -> torch.Tensor:
    """m ** power for a symmetric positive semi-definite matrix (eigenvalues floored at 0)."""
    values, vectors = torch.linalg.eigh(m)
    values = values.clamp(min=0)
    if power < 0:
        values = values.clamp(min=torch.finfo(values.dtype).tiny)
    return vectors @ torch.diag(values**power) @ vectors.T


def _apply_matrix(m: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    work = t if t.dtype == torch.float64 else t.to(torch.float32)
    out = torch.einsum("ij,...jhw->...ihw", m.to(work.device, work.dtype), work)
    return out.to(t.dtype)


def _check_image(t: torch.Tensor, field: str) -> torch.Tensor:
    if not isinstance(t, torch.Tensor) or not t.is_floating_point():
        raise ParameterError(f"{field}: expected a float tensor")
    if t.dim() not in (3, 4) or t.shape[-3] != 3 or (t.dim() == 4 and t.shape[0] != 1):
        shape = tuple(t.shape)
        raise ParameterError(f"{field}: expected shape (1, 3, H, W) or (3, H, W), got {shape}")
    return t
