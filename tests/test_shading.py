"""The shading term: the photo's light and shade in the painting's tones."""

import pytest
import torch

from painterly import StyleParams, create_backbone
from painterly.shading import BLUR_FRACTION, ShadingLoss, blurred_luminance, shading_target, tone_quantiles
from painterly.style_transfer import stylize

from imagegen import stripes


def flat(r: float, g: float, b: float, h: int = 32, w: int = 48) -> torch.Tensor:
    return torch.tensor([r, g, b]).view(1, 3, 1, 1).expand(1, 3, h, w).clone()


def test_the_blurred_luminance_of_a_flat_picture_is_its_luminance():
    # Y of YIQ: 0.299 R + 0.587 G + 0.114 B
    y = blurred_luminance(flat(1.0, 0.5, 0.0))
    assert y.shape == (1, 1, 32, 48)
    assert torch.allclose(y, torch.full_like(y, 0.299 + 0.5 * 0.587), atol=1e-6)


def test_the_blur_keeps_the_mean_and_softens_an_edge():
    photo = torch.zeros(1, 3, 64, 256)
    photo[..., 128:] = 1.0
    y = blurred_luminance(photo, long_side=round(1 / BLUR_FRACTION))  # sigma = 1 px
    assert y.mean().item() == pytest.approx(0.5, abs=1e-6)
    row = y[0, 0, 32]
    assert 0.05 < row[127].item() < 0.5 < row[128].item() < 0.95  # softened, not a step
    assert row[120].item() < 1e-6 and row[136].item() > 1 - 1e-6  # untouched a few sigma away


def test_a_large_pictures_blur_taken_at_a_lower_resolution_matches_the_direct_one():
    from painterly.shading import _gaussian_blur

    photo = torch.zeros(1, 3, 96, 1536)  # a step edge in a picture whose blur is 8.5 px wide
    photo[..., 700:] = 1.0
    shrunk = blurred_luminance(photo)
    direct = _gaussian_blur(photo.mean(dim=1, keepdim=True), 1536 * BLUR_FRACTION)
    assert shrunk.shape == direct.shape
    assert (shrunk - direct).abs().max().item() < 0.015
    assert 0.45 < shrunk[0, 0, 48, 700].item() < 0.6  # the edge is still centred


def test_the_target_has_the_photos_order_and_the_paintings_values():
    torch.manual_seed(0)
    photo = torch.rand(1, 3, 40, 60)
    painting = 0.2 + 0.3 * torch.rand(1, 3, 50, 50)  # darker, narrower tones
    tones = tone_quantiles(painting)
    target = shading_target(photo, tones)
    own = blurred_luminance(photo).flatten()
    # the same order as the photo's blurred luminance (a monotone remap) ...
    assert torch.equal(target.flatten().argsort(), own.argsort())
    # ... and the painting's distribution: its quantiles, read back at the same levels
    assert torch.allclose(target.flatten().sort().values[[0, -1]], tones[[0, -1]], atol=2e-3)
    assert target.mean().item() == pytest.approx(tones.mean().item(), abs=2e-3)
    # without tones, the photo's own blurred luminance
    assert torch.equal(shading_target(photo, None), blurred_luminance(photo))


def test_the_loss_is_zero_on_target_and_grows_with_the_squared_offset():
    target = blurred_luminance(flat(0.4, 0.4, 0.4))
    loss = ShadingLoss(target, variance=0.01)
    assert loss(flat(0.4, 0.4, 0.4)).item() == pytest.approx(0.0, abs=1e-10)
    # a grey picture 0.1 brighter everywhere: 0.1^2 / (0.01 + 1e-4)
    assert loss(flat(0.5, 0.5, 0.5)).item() == pytest.approx(0.01 / 0.0101, rel=1e-4)


@pytest.mark.slow
def test_the_shading_term_pulls_the_picture_to_the_photos_halves_in_the_paintings_tones():
    # A photo dark on the left and light on the right; the painting's tones (red and blue stripes,
    # luminance 0.23 and 0.41) are narrower than the photo's, so the target is a dark left half and
    # a light right half within 0.23-0.41, and the term pulls the picture to it.
    photo = torch.full((1, 3, 48, 64), 0.15)
    photo[..., 32:] = 0.85
    net = create_backbone("efficientnet-lite0")
    base = StyleParams(size=64, iterations=20, pyramid_start=0)
    target = shading_target(photo, tone_quantiles(stripes()))
    error, contrast = {}, {}
    for weight in (0.0, 20.0):
        y = blurred_luminance(stylize(photo, stripes(), base.replace(shading_weight=weight), backbone=net).image)
        error[weight] = (y - target).abs().mean().item()
        contrast[weight] = (y[..., 40:].mean() - y[..., :24].mean()).item()
    assert error[20.0] < 0.5 * error[0.0]
    assert contrast[20.0] > 0.1  # the light half stays lighter
