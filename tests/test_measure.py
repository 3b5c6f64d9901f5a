"""The network-free quality measure used by the benchmarks: values checked by hand."""

import pytest
import torch

from painterly.measure import photo_similarity, srgb_to_lab, ssim, style_distance

from imagegen import stripes


def test_lab_of_white_black_and_red_match_the_cie_tables():
    colours = torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]).T.reshape(1, 3, 3, 1).double()
    lab = srgb_to_lab(colours)[0, :, :, 0].T
    assert lab[0].tolist() == pytest.approx([100.0, 0.0, 0.0], abs=0.05)
    assert lab[1].tolist() == pytest.approx([0.0, 0.0, 0.0], abs=0.05)
    assert lab[2].tolist() == pytest.approx([53.24, 80.09, 67.20], abs=0.1)


def test_ssim_is_one_for_the_same_image_and_low_for_its_negative():
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(1, 1, 48, 48, generator=generator, dtype=torch.float64)
    assert ssim(image, image) == pytest.approx(1.0)
    assert ssim(image, 1 - image) < 0


@pytest.mark.slow
def test_style_distance_is_small_for_the_painting_itself_and_grows_with_difference():
    painting = stripes(96, 96).double()
    shifted = torch.roll(painting, shifts=(5, 7), dims=(2, 3))  # same pixels, other places
    grey = torch.full_like(painting, 0.5)
    recoloured = painting[:, [2, 1, 0]]  # same strokes, red and blue swapped in place: same palette
    greenish = painting * torch.tensor([0.3, 1.0, 0.3]).view(1, 3, 1, 1).double() + torch.tensor([0, 0.5, 0]).view(1, 3, 1, 1)
    itself = style_distance(shifted, painting)
    assert itself < 0.1
    assert style_distance(recoloured, painting) < 0.1  # a distribution, not an arrangement
    assert style_distance(greenish.clamp(0, 1), painting) > 5 * itself
    assert style_distance(grey, painting) > 5 * itself


def test_photo_similarity_keeps_layout_and_ignores_fine_texture():
    y = torch.linspace(0, 1, 64).view(1, 1, 64, 1).expand(1, 3, 64, 96).double()
    photo = y.clone()
    textured = (photo + 0.05 * torch.tensor([1.0, -1.0]).repeat(48)).clamp(0, 1)  # a 2 px column pattern
    flipped = photo.flip(2)
    assert photo_similarity(textured, photo) > 0.95
    assert photo_similarity(flipped, photo) < 0.5
