"""capsnet's pieces against hand computations and constructed cases (no training)."""

import pytest
import torch

from capsnet.data import Split
from capsnet.layers import margin_loss, mask, route, squash
from capsnet.model import Architecture, BaselineCNN, CapsNet, parameter_count
from capsnet.tasks import MULTI_SIZE, multi_batch, random_shift


def test_squash_keeps_direction_and_maps_lengths_into_unit_interval():
    s = torch.randn(64, 16) * torch.logspace(-3, 1, 64).unsqueeze(1)  # lengths up to ~50 (float32 rounds 1 - 1/|s|² to 1 far beyond)
    v = squash(s)
    cosine = torch.nn.functional.cosine_similarity(s, v, dim=1)
    assert torch.allclose(cosine, torch.ones(64), atol=1e-5)
    lengths = v.norm(dim=1)
    assert bool((lengths >= 0).all()) and bool((lengths < 1).all())
    order = s.norm(dim=1).argsort()
    assert bool((lengths[order][1:] > lengths[order][:-1]).all())  # longer in, longer out


def test_squash_hand_values_and_zero_vector():
    assert squash(torch.tensor([[2.0, 0.0]]))[0].tolist() == pytest.approx([0.8, 0.0])  # 4/5 · 2/2
    assert squash(torch.tensor([[0.0, 3.0, 4.0]])).norm().item() == pytest.approx(25 / 26)
    zero = torch.zeros(1, 8, requires_grad=True)
    squash(zero).sum().backward()
    assert torch.isfinite(zero.grad).all()


def test_margin_loss_matches_a_hand_computation():
    lengths = torch.tensor([[0.95, 0.5, 0.05, 0.3], [0.95, 0.5, 0.05, 0.3]])
    targets = torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0]])
    # Row 1: present 0.95 > 0.9 costs 0; absent 0.5*((0.5-0.1)² + (0.3-0.1)²) = 0.1.
    # Row 2: present (0.9-0.5)² = 0.16; absent 0.5*((0.95-0.1)² + (0.3-0.1)²) = 0.38125.
    assert margin_loss(lengths, targets).item() == pytest.approx((0.1 + 0.16 + 0.38125) / 2)
    assert margin_loss(lengths, targets, m_plus=0.9, m_minus=0.1, lam=1.0).item() == pytest.approx((0.2 + 0.16 + 0.7625) / 2)


def test_routing_raises_coupling_of_agreeing_capsules_and_the_output_length():
    torch.manual_seed(0)
    direction = torch.nn.functional.normalize(torch.randn(16), dim=0)
    u_hat = torch.zeros(1, 2, 8, 16)  # (batch, outputs, lower capsules, dims)
    u_hat[0, 0, :4] = 0.5 * direction  # lower capsules 0-3 agree on output 0
    u_hat[0, 0, 4:] = 0.5 * torch.nn.functional.normalize(torch.randn(4, 16), dim=1)  # 4-7 point elsewhere
    u_hat[0, 1] = 0.5 * torch.nn.functional.normalize(torch.randn(8, 16), dim=1)  # no agreement on output 1
    v1, c1 = route(u_hat, 1)
    v3, c3 = route(u_hat, 3)
    assert torch.allclose(c1, torch.full_like(c1, 0.5))  # one iteration: uniform coupling
    agreeing, others = c3[0, 0, :4], c3[0, 0, 4:]
    assert bool((agreeing > 0.55).all()) and agreeing.min() > others.max()
    assert v3[0, 0].norm() > v1[0, 0].norm() + 0.05
    assert torch.allclose(c3.sum(dim=1), torch.ones(1, 8))  # each lower capsule's couplings sum to 1


def test_paper_architecture_has_1152_primary_capsules_and_8_2_million_parameters():
    arch = Architecture()
    assert arch.primary_grid == 6 and arch.primary_capsules == 1152
    # 8.2 M in the paper (6.8 M without the decoder).
    model = CapsNet(arch)
    assert parameter_count(model) == 8_215_568
    assert parameter_count(model) - parameter_count(model.decoder) == 6_804_224
    assert Architecture(image_size=MULTI_SIZE).primary_grid == 10


def test_shapes_and_masking():
    torch.manual_seed(0)
    model = CapsNet(Architecture(conv1_channels=16, primary_types=4)).eval()
    out = model(torch.rand(3, 1, 28, 28))
    assert out.scores.shape == (3, 10) and out.capsules.shape == (3, 10, 16)
    assert torch.allclose(out.scores, out.capsules.norm(dim=-1))
    assert bool((out.scores < 1).all())
    assert model.digits.last_coupling.shape == (3, 10, 144)
    labels = torch.tensor([2, 5, 9])
    masked = mask(out.capsules, labels).view(3, 10, 16)
    assert torch.equal(masked[torch.arange(3), labels], out.capsules[torch.arange(3), labels])
    masked[torch.arange(3), labels] = 0
    assert not masked.any()  # every other capsule is zero
    # The decoder sees only the chosen capsule: changing any other leaves the picture as it was.
    other = out.capsules.clone()
    other[:, 0] += 1.0
    assert torch.equal(model.decode(out.capsules, labels), model.decode(other, labels))
    assert model.decode(out.capsules, labels).shape == (3, 1, 28, 28)
    assert BaselineCNN(Architecture(kind="baseline", conv1_channels=16))(torch.rand(2, 1, 28, 28)).scores.sum(1).tolist() == pytest.approx([1, 1])


def test_random_shift_moves_by_at_most_the_limit():
    images = torch.zeros(200, 1, 28, 28)
    images[:, 0, 14, 14] = 1.0
    generator = torch.Generator().manual_seed(0)
    shifted = random_shift(images, 2, generator)
    assert torch.equal(shifted.sum(dim=(1, 2, 3)), torch.ones(200))
    where = shifted.flatten(1).argmax(1)
    rows, cols = where // 28 - 14, where % 28 - 14
    assert rows.abs().max() == 2 and cols.abs().max() == 2  # every offset in range, the extremes reached
    assert len(set(zip(rows.tolist(), cols.tolist()))) == 25
    assert torch.equal(random_shift(images, 0, generator), images)


def test_multimnist_pairs_are_two_different_digits_on_36x36():
    generator = torch.Generator().manual_seed(0)
    images = torch.zeros(10, 28, 28, dtype=torch.uint8)
    for k in range(10):
        images[k, 4 + k, 4:24] = 255  # a distinct bar per class
    split = Split(images, torch.arange(10))
    batch = multi_batch(split, torch.arange(10), torch.tensor([1, 2, 3, 4, 5, 6, 7, 8, 9, 0]), generator, 10)
    assert batch.images.shape == (10, 1, 36, 36) and float(batch.images.max()) == 1.0
    assert torch.equal(batch.targets.sum(1), torch.full((10,), 2.0))
    (a, first), (b, second) = batch.reconstructions
    assert bool((a != b).all())
    assert bool((first <= batch.images + 1e-6).all()) and bool((second <= batch.images + 1e-6).all())
    assert torch.equal(first.sum(dim=(1, 2, 3)), torch.full((10,), 20.0))  # a whole bar, never cut off by a shift


def test_routing_starts_afresh_for_every_example():
    # The logits b_ij belong to one example and one forward pass: an image's capsules are the same
    # alone, in any batch, and on a second call (a logit carried over, or shared across the batch, breaks this).
    torch.manual_seed(0)
    model = CapsNet(Architecture(conv1_channels=16, primary_types=4)).eval()
    images = torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        together = model(images).capsules
        alone = torch.cat([model(images[i : i + 1]).capsules for i in range(4)])
        reversed_batch = model(images.flip(0)).capsules.flip(0)
        again = model(images).capsules
    assert torch.allclose(together, alone, atol=1e-6)
    assert torch.allclose(together, reversed_batch, atol=1e-6)
    assert torch.equal(together, again)
    u_hat = torch.randn(2, 3, 5, 4)
    v_both, _ = route(u_hat, 3)
    v_first, _ = route(u_hat[:1], 3)
    assert torch.allclose(v_both[:1], v_first, atol=1e-6)


def test_training_loss_is_margin_plus_0_0005_sum_of_squares_of_the_true_class_decode():
    from capsnet.settings import TrainSettings
    from capsnet.tasks import Batch
    from capsnet.train import batch_loss

    torch.manual_seed(0)
    # Float64, so that the decoder term (0.0005 x a sum that differs by ~0.01 between classes) is far above rounding.
    model = CapsNet(Architecture(conv1_channels=16, primary_types=4)).double().eval()
    with torch.no_grad():  # untrained capsules are ~1e-4 long and decode alike; longer ones decode apart
        model.digits.weight.mul_(100)
    images = torch.rand(3, 1, 28, 28, dtype=torch.float64)
    with torch.no_grad():
        predicted = model(images).scores.argmax(1)
    labels = (predicted + 1) % 10  # never the predicted class: the decoder must be given the true one
    batch = Batch(images, torch.nn.functional.one_hot(labels, 10).double(), labels, [(labels, images)])
    with torch.no_grad():
        out = model(images)
        margin = margin_loss(out.scores, batch.targets)
        true_sq = (model.decode(out.capsules, labels) - images).pow(2).sum((1, 2, 3)).mean()
        predicted_sq = (model.decode(out.capsules, predicted) - images).pow(2).sum((1, 2, 3)).mean()
        loss = batch_loss(model, batch, TrainSettings())
    assert not torch.isclose(true_sq, predicted_sq)
    # 0.0005 × the sum over 784 pixels is 0.392 × their mean, the same weight written two ways.
    assert loss.item() == pytest.approx((margin + 0.0005 * true_sq).item(), rel=1e-12)
    assert loss.item() == pytest.approx((margin + 0.392 * true_sq / 784).item(), rel=1e-12)
    assert loss.item() != pytest.approx((margin + 0.0005 * predicted_sq).item(), rel=1e-9)
    assert batch_loss(model, batch, TrainSettings(reconstruction_weight=0)).item() == pytest.approx(margin.item(), rel=1e-12)
