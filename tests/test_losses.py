"""Losses against hand computations, and the invariants the normalised Gram matrix promises."""

import pytest
import torch

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
