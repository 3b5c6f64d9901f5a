"""Losses against hand computations, and the invariants the normalised Gram matrix promises."""

import pytest
import torch
from hypothesis import given, settings, strategies as st

from painterly import losses


def test_gram_matrix_by_hand():
    # Two channels over two positions: rows [1, 2] and [3, 4].
    feats = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 1, 2)
    expected = torch.tensor([[1 + 4, 3 + 8], [3 + 8, 9 + 16]]) / 2.0
    assert torch.allclose(losses.gram_matrix(feats)[0], expected)


def test_gram_is_symmetric_psd_and_scales_quadratically():
    feats = torch.randn(2, 5, 7, 6, generator=torch.Generator().manual_seed(0))
    g = losses.gram_matrix(feats)
    assert g.shape == (2, 5, 5)
    assert torch.allclose(g, g.transpose(1, 2))
    assert torch.linalg.eigvalsh(g).min() > -1e-5
    assert torch.allclose(losses.gram_matrix(3 * feats), 9 * g, atol=1e-5)


def test_gram_ignores_where_features_are_and_how_many_positions():
    feats = torch.randn(1, 4, 6, 5, generator=torch.Generator().manual_seed(1))
    g = losses.gram_matrix(feats)
    shuffled = feats.flatten(2)[:, :, torch.randperm(30)].reshape(1, 4, 5, 6)
    assert torch.allclose(losses.gram_matrix(shuffled), g, atol=1e-6)
    # The mean over positions makes a 2x2 tiling (four times the area) give the same targets.
    tiled = feats.repeat(1, 1, 2, 2)
    assert torch.allclose(losses.gram_matrix(tiled), g, atol=1e-6)


def test_content_loss_by_hand_and_scale_invariant():
    feats = torch.tensor([1.0, 2.0, 0.0, 0.0]).reshape(1, 1, 2, 2)
    target = torch.tensor([1.0, 0.0, 0.0, 0.0]).reshape(1, 1, 2, 2)
    assert losses.content_loss(feats, target).item() == pytest.approx(4.0, rel=1e-6)  # (2-0)^2 / 1^2
    assert losses.content_loss(10 * feats, 10 * target).item() == pytest.approx(4.0, rel=1e-6)
    assert losses.content_loss(target, target).item() == 0.0


def test_style_loss_by_hand():
    feats = torch.tensor([[1.0, 1.0], [0.0, 2.0]]).reshape(1, 2, 1, 2)
    target = torch.eye(2).unsqueeze(0)
    g = torch.tensor([[1.0, 1.0], [1.0, 2.0]])  # [[1+1, 0+2], [0+2, 0+4]] / 2
    expected = ((g - torch.eye(2)) ** 2).sum() / 2.0  # / ||I||^2 = 2
    assert losses.style_loss(feats, target).item() == pytest.approx(expected.item(), rel=1e-6)


def test_tv_loss_by_hand():
    image = torch.tensor([[0.0, 1.0], [1.0, 1.0]]).reshape(1, 1, 2, 2)
    # horizontal differences 1 and 0 (mean 0.5), vertical differences 1 and 0 (mean 0.5)
    assert losses.tv_loss(image).item() == pytest.approx(1.0)
    assert losses.tv_loss(torch.full((1, 3, 8, 8), 0.3)).item() == 0.0


def test_blend_grams_is_a_weighted_mean():
    a, b = torch.ones(1, 2, 2), torch.zeros(1, 2, 2)
    assert torch.allclose(losses.blend_grams([a, b], [3, 7]), torch.full((1, 2, 2), 0.3))
    with pytest.raises(ValueError):
        losses.blend_grams([a, b], [0, 0])
    with pytest.raises(ValueError):
        losses.blend_grams([a], [1, 2])


def test_loss_modules_agree_with_functions_and_weight_layers():
    gen = torch.Generator().manual_seed(2)
    feats = {"a": torch.randn(1, 3, 4, 4, generator=gen), "b": torch.randn(1, 5, 2, 2, generator=gen)}
    targets = {"a": torch.randn(1, 3, 4, 4, generator=gen), "b": torch.randn(1, 5, 2, 2, generator=gen)}
    weights = {"a": 1.0, "b": 3.0}
    expected = (losses.content_loss(feats["a"], targets["a"]) + 3 * losses.content_loss(feats["b"], targets["b"])) / 4
    assert torch.allclose(losses.ContentLoss(targets, weights)(feats), expected)

    grams = {k: losses.gram_matrix(v) for k, v in targets.items()}
    module = losses.StyleLoss(grams, weights)
    expected = (losses.style_loss(feats["a"], grams["a"]) + 3 * losses.style_loss(feats["b"], grams["b"])) / 4
    assert torch.allclose(module(feats), expected)
    # Targets are copies: changing the caller's tensor afterwards changes nothing.
    before = module(feats).clone()
    grams["a"].mul_(100)
    assert torch.equal(module(feats), before)


def test_masked_gram_of_a_hard_mask_is_the_gram_of_the_region():
    feats = torch.randn(1, 4, 6, 8, generator=torch.Generator().manual_seed(3))
    mask = torch.zeros(1, 1, 6, 8)
    mask[..., :, :3] = 1.0
    assert torch.allclose(losses.masked_gram_matrix(feats, mask), losses.gram_matrix(feats[..., :3]), atol=1e-6)
    # A uniform soft mask weighs every position alike: the plain Gram matrix.
    assert torch.allclose(losses.masked_gram_matrix(feats, torch.full((1, 1, 6, 8), 0.3)), losses.gram_matrix(feats), atol=1e-6)


def test_augmented_gram_holds_the_gram_and_the_means():
    feats = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 1, 2)
    aug = losses.augmented_gram_matrix(feats)[0]
    assert aug.shape == (3, 3)
    assert torch.allclose(aug[:2, :2], losses.gram_matrix(feats)[0])
    assert torch.allclose(aug[:2, 2], torch.tensor([1.5, 3.5]))  # channel means
    assert torch.allclose(aug[2, :2], torch.tensor([1.5, 3.5])) and aug[2, 2] == 1.0
    # With a hard mask it describes the selected positions only.
    mask = torch.tensor([1.0, 0.0]).reshape(1, 1, 1, 2)
    assert torch.allclose(losses.augmented_gram_matrix(feats, mask)[0, :2, 2], torch.tensor([1.0, 3.0]))


def test_moments_loss_by_hand():
    # Channel 0 over 4 positions: values 1, 1, 3, 3 -> mean 2, variance 1.
    feats = torch.tensor([1.0, 1.0, 3.0, 3.0]).reshape(1, 1, 2, 2)
    target = losses.augmented_gram_matrix(feats)
    assert losses.moments_loss(target, target).item() == 0.0
    # Shifting every value by +2 changes the mean (2 -> 4) but not the variance: only the mean
    # term counts, (4 - 2)^2 / 2^2 = 1. The Gram loss would also see a changed second moment.
    shifted = losses.augmented_gram_matrix(feats + 2)
    assert losses.moments_loss(shifted, target).item() == pytest.approx(1.0, rel=1e-5)
    # Doubling the spread around the mean (variance 1 -> 4) leaves the mean: (4 - 1)^2 / 1^2 = 9.
    spread = losses.augmented_gram_matrix(2 * (feats - 2) + 2)
    assert losses.moments_loss(spread, target).item() == pytest.approx(9.0, rel=1e-5)


def test_style_statistic_and_distance_agree_with_the_plain_functions():
    feats = torch.randn(1, 4, 5, 6, generator=torch.Generator().manual_seed(2))
    other = torch.randn(1, 4, 5, 6, generator=torch.Generator().manual_seed(3))
    gram_target = losses.style_statistic(other, "gram")
    assert torch.equal(gram_target, losses.gram_matrix(other))
    gram = losses.style_distance(losses.style_statistic(feats, "gram"), gram_target, "gram")
    assert gram.item() == pytest.approx(losses.style_loss(feats, gram_target).item(), rel=1e-6)
    moments = losses.style_distance(losses.style_statistic(feats), gram_target)
    assert moments.item() == pytest.approx(gram.item(), rel=1e-6)  # "gram" is the default
    with pytest.raises(ValueError, match="unknown style statistic 'hist'"):
        losses.style_statistic(feats, "hist")
    module = losses.StyleLoss({"a": losses.style_statistic(other, "moments")}, {"a": 1.0}, statistic="moments")
    expected = losses.moments_loss(losses.augmented_gram_matrix(feats), losses.augmented_gram_matrix(other))
    assert module({"a": feats}).item() == pytest.approx(expected.item(), rel=1e-6)


def test_softmax_smoothing_keeps_order_and_mean_and_ignores_offsets():
    feats = torch.randn(2, 3, 4, 5, generator=torch.Generator().manual_seed(4)) * 3
    smooth = losses.softmax_smoothing(feats)
    assert smooth.shape == feats.shape and (smooth > 0).all()
    # Mean 1 per image, whatever the size: targets from a style of another size still fit.
    assert torch.allclose(smooth.mean(dim=(1, 2, 3)), torch.ones(2))
    # A softmax: adding a constant changes nothing; the order of the activations is kept.
    assert torch.allclose(losses.softmax_smoothing(feats + 5.0), smooth, atol=1e-6)
    assert torch.equal(smooth[0].flatten().argsort(), feats[0].flatten().argsort())
    # By hand: activations 0 and log 3 -> softmax 1/4, 3/4 -> times 2 -> 0.5, 1.5.
    two = torch.tensor([0.0, float(torch.log(torch.tensor(3.0)))]).reshape(1, 1, 1, 2)
    assert torch.allclose(losses.softmax_smoothing(two).flatten(), torch.tensor([0.5, 1.5]))
    assert torch.equal(losses.smooth(feats, "none"), feats)


def test_chroma_tv_sees_colour_edges_not_brightness_edges():
    grey_edge = torch.zeros(1, 3, 4, 4)
    grey_edge[..., 2:] = 0.8  # a black | light-grey edge: a stroke of pure brightness
    assert losses.tv_loss(grey_edge).item() > 0
    assert losses.chroma_tv_loss(grey_edge).item() == pytest.approx(0.0, abs=1e-10)
    red_green = torch.zeros(1, 3, 4, 4)
    red_green[:, 0, :, :2] = 1.0
    red_green[:, 1, :, 2:] = 1.0
    # One column boundary of 4 in 3 column pairs -> the horizontal mean is 1/3 of the squared
    # jump in I and Q between red (0.5959, 0.2115) and green (-0.2746, -0.5227); no vertical change.
    jump = (0.5959 + 0.2746) ** 2 + (0.2115 + 0.5227) ** 2
    assert losses.chroma_tv_loss(red_green).item() == pytest.approx(jump / 3 / 2, rel=1e-4)


def test_smoothness_loss_is_the_weighted_sum_of_both_tv_terms():
    image = torch.rand(1, 3, 9, 7, generator=torch.Generator().manual_seed(5))
    for tv_weight, chroma_weight in [(2.0, 300.0), (0.0, 5.0), (1.5, 0.0)]:
        expected = tv_weight * losses.tv_loss(image) + chroma_weight * losses.chroma_tv_loss(image)
        got = losses.smoothness_loss(image, tv_weight, chroma_weight)
        assert got.item() == pytest.approx(expected.item(), rel=1e-5)


def test_sliced_quantiles_see_the_distribution_not_the_arrangement():
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(1, 6, 16, 16, generator=generator)
    shuffled = features.flatten(2)[:, :, torch.randperm(256, generator=generator)].reshape(1, 6, 16, 16)
    a, b = losses.sliced_quantiles(features), losses.sliced_quantiles(shuffled)
    assert torch.equal(a, b)
    assert losses.sliced_distance(a, b) == 0


def test_sliced_statistic_tells_apart_textures_with_the_same_gram_matrix():
    # Even texture: every position +-1. Patchy texture: half the positions +-sqrt(2), half 0.
    # Both have the same Gram matrix (mean square 1, no correlation), not the same distribution.
    signs = torch.tensor([1.0, -1.0]).repeat(128).view(1, 1, 16, 16)
    even = signs.clone()
    patchy = signs * 2**0.5
    patchy[..., 8:, :] = 0
    assert torch.allclose(losses.gram_matrix(even), losses.gram_matrix(patchy))
    distance = losses.style_distance(
        losses.style_statistic(patchy, "sliced"), losses.style_statistic(even, "sliced"), "sliced"
    )
    assert distance > 0.1


def test_resample_quantiles_interpolates_between_sorted_values():
    values = torch.tensor([[0.0], [1.0], [2.0], [3.0]])
    # Quantiles (i + 0.5) / 2 of four points sit at positions 0.5 and 2.5.
    assert losses.resample_quantiles(values, 2).flatten().tolist() == [0.5, 2.5]
    assert losses.resample_quantiles(values, 4).flatten().tolist() == [0.0, 1.0, 2.0, 3.0]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(width=32, allow_nan=False), min_size=1, max_size=40), st.integers(1, 3))
def test_ascending_order_sorts_every_float_as_torch_does(values, rows):
    x = torch.tensor(values * rows, dtype=torch.float32).reshape(rows, -1)
    x[-1] = x[-1].flip(0)  # rows differ, so a row mixed up with another shows
    order = losses.ascending_order(x)
    assert torch.equal(x.gather(1, order), x.sort(dim=1).values)
    assert torch.equal(order.sort(dim=1).values, torch.arange(x.shape[1]).expand_as(x))  # a permutation


def test_sliced_color_loss_is_zero_at_the_palette_and_its_gradient_is_the_sorted_difference():
    g = torch.Generator().manual_seed(3)
    style = torch.rand(1, 3, 16, 16, generator=g)
    directions = losses.color_directions(4)
    loss = losses.SlicedColorLoss(losses.color_quantiles(style, directions, levels=256), directions, (16, 16))
    # The style's own pixels, rearranged: the same distribution along every direction.
    shuffled = style.flatten(2)[:, :, torch.randperm(256, generator=g)].reshape(1, 3, 16, 16)
    assert loss(shuffled).item() < 1e-10
    # Elsewhere the gradient is that of sum((sort(P x) - target)^2) / scale, computed here with torch.sort.
    picture = torch.rand(1, 3, 16, 16, generator=g, requires_grad=True)
    loss(picture).backward()
    by_hand = picture.detach().clone().requires_grad_(True)
    projected = by_hand[0].flatten(1)[:, loss.subset].T @ directions
    ((projected.sort(dim=0).values - loss.target.T).pow(2).sum() / loss.scale).backward()
    assert picture.grad is not None and by_hand.grad is not None
    assert torch.allclose(picture.grad, by_hand.grad, atol=1e-6) and picture.grad.abs().sum() > 0


def test_palette_term_scores_one_for_a_flat_picture_at_the_paintings_mean_colour():
    # The divisor is the painting's own spread along each direction, so a picture of its mean
    # colour is exactly one spread away: 1, whatever the painting and whatever the picture's size.
    g = torch.Generator().manual_seed(5)
    style = torch.rand(1, 3, 20, 20, generator=g) * torch.tensor([0.2, 0.9, 0.5]).view(1, 3, 1, 1)
    directions = losses.color_directions(8)
    quantiles = losses.color_quantiles(style, directions, levels=400)  # as many levels as pixels: exact
    flat = style.mean(dim=(2, 3), keepdim=True).expand(1, 3, 12, 12)
    assert losses.SlicedColorLoss(quantiles, directions, (12, 12))(flat).item() == pytest.approx(1.0, rel=1e-4)
    target, scale = losses.palette_target(quantiles, 144)
    assert target.shape == (8, 144) and torch.all(target[:, 1:] >= target[:, :-1])  # sorted rows
