"""Style transfer end to end with the real embedded backbone, on tiny images."""

import pytest
import torch

from painterly import StyleParams, create_backbone, load_image
from painterly.errors import ParameterError
from painterly.pyramid import pyramid_sizes
from painterly.style_transfer import stylize

from imagegen import stripes

# Tiny runs with fixed weights and taps, so the assertions don't move when the defaults are tuned.
TINY = dict(
    size=64, iterations=8, pyramid_start=0, device="cpu", style_weight=10.0, chroma_tv_weight=0.0, color_statistic="moments",
    shading_weight=10.0,
    style_layers="stem,b1.dw,b3.dw,b5.dw,b8.dw,b11.dw,b14.dw",
)


@pytest.fixture(scope="module")
def backbone():
    return create_backbone("efficientnet-lite0")


@pytest.fixture(scope="module")
def cat(cat_path):
    return load_image(cat_path)


@pytest.mark.slow
def test_the_loss_goes_down_and_the_picture_moves_toward_the_style(backbone, cat):
    result = stylize(cat, stripes(), StyleParams(**{**TINY, "iterations": 15}), backbone=backbone)
    assert result.history[-1] < 0.7 * result.history[0]
    assert result.image.shape == (1, 3, 42, 64)
    # The stripes are red and blue: the painting's mean colour moves toward them from the cat's.
    cat_small = torch.nn.functional.interpolate(cat, size=(42, 64), mode="area")
    blue_minus_green = lambda im: (im[:, 2] - im[:, 1]).mean().item()  # noqa: E731
    assert blue_minus_green(result.image) > blue_minus_green(cat_small) + 0.05


@pytest.mark.slow
def test_same_seed_same_picture_other_seed_other_picture(backbone, cat):
    params = StyleParams(**TINY, init="noise", seed=3)
    first = stylize(cat, stripes(), params, backbone=backbone).image
    again = stylize(cat, stripes(), params, backbone=backbone).image
    other = stylize(cat, stripes(), params.replace(seed=4), backbone=backbone).image
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


@pytest.mark.slow
def test_inputs_are_not_modified(backbone, cat):
    style = stripes()
    before = (cat.clone(), style.clone())
    stylize(cat, style, StyleParams(**TINY), backbone=backbone)
    assert torch.equal(cat, before[0]) and torch.equal(style, before[1])


@pytest.mark.slow
def test_a_blend_weight_of_zero_is_the_same_as_leaving_the_style_out(backbone, cat):
    other_style = torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(0))
    single = stylize(cat, stripes(), StyleParams(**TINY), backbone=backbone).image
    blended = stylize(cat, [stripes(), other_style], StyleParams(**TINY, style_weights=[1.0, 0.0]), backbone=backbone)
    assert torch.equal(single, blended.image)


def test_pyramid_levels_grow_by_sqrt2_and_end_at_the_requested_size(backbone, cat):
    assert pyramid_sizes(512, 128) == [128, 181, 256, 362, 512]
    assert pyramid_sizes(512, 0) == [512]
    sizes = []
    params = StyleParams(size=90, iterations=2, pyramid_start=45, device="cpu")
    result = stylize(cat, stripes(), params, backbone=backbone, callbacks=[lambda e: sizes.append((e.level, e.size))])
    # Levels whose short side would fall under 32 px are skipped (the cat is 3:2).
    assert [s for _, s in sizes] == [(42, 64), (42, 64), (60, 90), (60, 90)]
    assert [lvl for lvl, _ in sizes] == [0, 0, 1, 1]
    assert result.image.shape[-2:] == (60, 90) and result.steps == 4


def test_stopping_at_a_coarse_level_still_returns_the_requested_size(backbone, cat):
    params = StyleParams(size=90, iterations=3, pyramid_start=45, device="cpu")
    result = stylize(cat, stripes(), params, backbone=backbone, callbacks=[lambda e: e.step == 2])
    assert result.stopped == "callback" and result.steps == 2
    assert result.image.shape[-2:] == (60, 90)


@pytest.mark.slow
def test_style_scale_changes_the_picture(backbone, cat):
    small = stylize(cat, stripes(96, 96), StyleParams(**TINY, style_scale=0.5), backbone=backbone).image
    large = stylize(cat, stripes(96, 96), StyleParams(**TINY, style_scale=2.0), backbone=backbone).image
    assert (small - large).abs().mean() > 0.01


@pytest.mark.parametrize(
    "styles, change, message",
    [
        ([stripes()], {"style_weights": [1.0, 2.0]}, "style_weights: 2 weights for 1 style images"),
        ([], {}, "styles: give at least one style image"),
        ([torch.rand(1, 3, 8, 8)], {}, "style image 1: 8x8 px is too small"),
        ([torch.rand(1, 3, 40, 4000)], {}, "style image 1: 4000x40 px has a short side of 1 px"),
        ([stripes()], {"style_layers": "b3.dww"}, "did you mean 'b3.dw'"),
        ([stripes()], {"init": "nowhere.png"}, "init: 'nowhere.png' is not content"),
    ],
)
def test_bad_arguments_give_one_line_errors(backbone, cat, styles, change, message):
    with pytest.raises(Exception) as err:
        stylize(cat, styles, StyleParams(**{**TINY, **change}), backbone=backbone)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert isinstance(err.value, (ParameterError,)) or type(err.value).__name__ == "ModelError"


def _distance(a, b):
    return (a - b).abs().mean().item()


@pytest.mark.slow
def test_strength_goes_smoothly_from_the_photo_to_the_full_style(backbone, cat):
    from painterly import losses

    content = torch.nn.functional.interpolate(cat, size=(42, 64), mode="bicubic", antialias=True).clamp(0, 1)
    runs = {s: stylize(cat, stripes(), StyleParams(**TINY, strength=s), backbone=backbone).image for s in (0.0, 0.5, 1.0)}
    assert _distance(runs[0.0], content) < 1e-3  # no style at all: the photo itself
    layers = TINY["style_layers"].split(",")
    with torch.no_grad():
        target = {n: losses.gram_matrix(f) for n, f in backbone(stripes(), layers).items()}

        def style_distance(image):
            return sum(losses.style_loss(f, target[n]).item() for n, f in backbone(image, layers).items())

        distances = [style_distance(runs[s]) for s in (0.0, 0.5, 1.0)]
    assert distances[0] > distances[1] > distances[2]


@pytest.mark.slow
def test_preserve_colors_luminance_keeps_the_photos_chroma(backbone, cat):
    from painterly.colors import rgb_to_yiq

    content = torch.nn.functional.interpolate(cat, size=(42, 64), mode="bicubic", antialias=True).clamp(0, 1)
    plain = stylize(cat, stripes(), StyleParams(**TINY), backbone=backbone).image
    kept = stylize(cat, stripes(), StyleParams(**TINY, preserve_colors="luminance"), backbone=backbone).image
    chroma = lambda im: rgb_to_yiq(im)[:, 1:]  # noqa: E731
    assert _distance(chroma(kept), chroma(content)) < 0.2 * _distance(chroma(plain), chroma(content))


@pytest.mark.slow
def test_preserve_colors_histogram_moves_the_palette_back_to_the_photo(backbone, cat):
    content = torch.nn.functional.interpolate(cat, size=(42, 64), mode="area")
    mean_colour = lambda im: im.mean(dim=(2, 3))  # noqa: E731
    plain = stylize(cat, stripes(), StyleParams(**TINY), backbone=backbone).image
    kept = stylize(cat, stripes(), StyleParams(**TINY, preserve_colors="histogram"), backbone=backbone).image
    assert _distance(mean_colour(kept), mean_colour(content)) < 0.5 * _distance(mean_colour(plain), mean_colour(content))


@pytest.mark.slow
def test_a_grey_drawing_gives_a_grey_picture(backbone, cat):
    from painterly.colors import rgb_to_yiq

    sepia = stripes().mean(dim=1, keepdim=True).expand(1, 3, -1, -1) + torch.tensor([0.01, 0.0, -0.01]).view(1, 3, 1, 1)
    chroma = lambda im: rgb_to_yiq(im)[0, 1:].flatten(1)  # noqa: E731
    painting = chroma(sepia).mean(dim=1)
    picture = stylize(cat, sepia, StyleParams(**TINY), backbone=backbone).image
    # Every pixel has the drawing's chroma (up to float rounding and the clamp to [0, 1]) ...
    assert (chroma(picture) - painting[:, None]).abs().max() < 2e-3
    # ... which the optimisation alone does not give, and a colourful painting does not get.
    with_colour = stylize(cat, stripes(), StyleParams(**TINY), backbone=backbone).image
    assert chroma(with_colour).std(dim=1).max() > 0.02
    kept = stylize(cat, sepia, StyleParams(**TINY, preserve_colors="luminance"), backbone=backbone).image
    assert chroma(kept).std(dim=1).max() > 0.02  # the photo's colours, when asked for


@pytest.mark.slow
def test_quality_presets_set_the_steps_unless_iterations_are_given(backbone, cat):
    assert StyleParams(quality="draft").steps_per_level == 15
    assert StyleParams(quality="high", iterations=7).steps_per_level == 7
    steps = []
    params = StyleParams(size=64, quality="draft", pyramid_start=0, device="cpu")
    stylize(cat, stripes(), params, backbone=backbone, callbacks=[lambda e: steps.append(e.total)])
    assert steps[-1] == 15 and len(steps) == 15


@pytest.mark.slow
def test_masks_give_each_region_its_own_style_and_leave_unmasked_parts_alone(backbone, cat):
    green = torch.zeros(1, 3, 64, 64)
    green[:, 1] = 0.8
    left = torch.zeros(1, 3, 42, 64)
    left[..., :32] = 1.0
    right = 1.0 - left
    params = StyleParams(**{**TINY, "iterations": 15, "style_weight": 100.0})
    both = stylize(cat, [stripes(), green], params, backbone=backbone, masks=[left, right]).image
    swapped = stylize(cat, [stripes(), green], params, backbone=backbone, masks=[right, left]).image
    # Each side is greener (against blue) when the green style is the one masked onto it.
    g_minus_b = lambda im: (im[:, 1] - im[:, 2]).mean().item()  # noqa: E731
    assert g_minus_b(both[..., 36:]) > g_minus_b(swapped[..., 36:]) + 0.02
    assert g_minus_b(swapped[..., :28]) > g_minus_b(both[..., :28]) + 0.02

    content = torch.nn.functional.interpolate(cat, size=(42, 64), mode="bicubic", antialias=True).clamp(0, 1)
    only_left = stylize(cat, stripes(), params, backbone=backbone, masks=[left]).image
    assert _distance(only_left[..., 40:], content[..., 40:]) < 0.7 * _distance(only_left[..., :24], content[..., :24])

    with pytest.raises(ParameterError, match="masks: 1 masks for 2 style images"):
        stylize(cat, [stripes(), green], params, backbone=backbone, masks=[left])
    with pytest.raises(ParameterError, match="mask 1: 64x64 px does not have the content image's aspect ratio"):
        stylize(cat, stripes(), params, backbone=backbone, masks=[torch.ones(1, 3, 64, 64)])


@pytest.mark.slow
def test_large_levels_are_refined_in_tiles_and_callbacks_see_the_whole_picture(backbone, cat):
    events = []
    params = StyleParams(size=160, iterations=6, pyramid_start=0, tile_size=64, device="cpu")
    result = stylize(cat, stripes(), params, backbone=backbone, callbacks=[events.append])
    h, w = result.image.shape[-2:]
    assert (h, w) == (106, 160)
    # 2 rows x 3 columns of 64 px tiles, 3 steps each (half the level's steps): 18 events, each
    # reporting, and able to show, the whole picture.
    assert len(events) == 18 and events[-1].total == 18
    assert all(e.size == (106, 160) for e in events) and events[4].image().shape[-2:] == (106, 160)


@pytest.mark.slow
@pytest.mark.parametrize("statistic", ["gram", "moments"])
def test_a_mask_that_covers_everything_is_the_same_as_no_mask(backbone, cat, statistic):
    params = StyleParams(**TINY, style_statistic=statistic)
    plain = stylize(cat, stripes(), params, backbone=backbone)
    masked = stylize(cat, stripes(), params, backbone=backbone, masks=[torch.ones(1, 3, 42, 64)])
    assert _distance(plain.image, masked.image) < 2e-3
    assert plain.history[0] == pytest.approx(masked.history[0], rel=1e-4)


@pytest.mark.slow
def test_moments_matching_moves_the_picture_toward_the_style(backbone, cat):
    result = stylize(cat, stripes(), StyleParams(**{**TINY, "iterations": 15}, style_statistic="moments"), backbone=backbone)
    gram = stylize(cat, stripes(), StyleParams(**{**TINY, "iterations": 15}), backbone=backbone)
    assert result.history[-1] < 0.7 * result.history[0]
    assert _distance(result.image, gram.image) > 1e-3  # a different objective, a different picture


@pytest.mark.slow
def test_chroma_smoothing_removes_colour_noise_but_keeps_brightness_detail(backbone, cat):
    from painterly import losses
    from painterly.colors import rgb_to_yiq

    plain = stylize(cat, stripes(), StyleParams(**TINY), backbone=backbone).image
    smooth = stylize(cat, stripes(), StyleParams(**{**TINY, "chroma_tv_weight": 1000.0}), backbone=backbone).image
    assert losses.chroma_tv_loss(smooth) < 0.5 * losses.chroma_tv_loss(plain)
    luminance_tv = lambda im: losses.tv_loss(rgb_to_yiq(im)[:, :1]).item()  # noqa: E731
    assert luminance_tv(smooth) > 0.5 * luminance_tv(plain)


@pytest.mark.slow
def test_activation_smoothing_changes_the_targets_and_still_lowers_the_loss(backbone, cat):
    params = StyleParams(**{**TINY, "iterations": 15}, activation_smoothing="softmax")
    smoothed = stylize(cat, stripes(), params, backbone=backbone)
    plain = stylize(cat, stripes(), params.replace(activation_smoothing="none"), backbone=backbone)
    assert smoothed.history[-1] < 0.8 * smoothed.history[0]
    assert smoothed.history[0] != pytest.approx(plain.history[0], rel=1e-3)


@pytest.mark.slow
def test_iterate_averaging_is_used_on_every_level(backbone, cat):
    params = StyleParams(**{**TINY, "size": 128, "pyramid_start": 64}, average=0.8)
    shown = []
    result = stylize(cat, stripes(), params, backbone=backbone, callbacks=[lambda e: shown.append(e.image())])
    plain = stylize(cat, stripes(), params.replace(average=0.0), backbone=backbone)
    assert len(result.history) == 3 * TINY["iterations"]  # levels of 64, 91 and 128 px
    assert result.history[:8] == plain.history[:8]  # the same path through the first level...
    assert result.history[8:] != plain.history[8:]  # ...which hands its average to the next
    assert torch.allclose(result.image, shown[-1], atol=1e-6)
    assert not torch.allclose(result.image, plain.image, atol=1e-3)


@pytest.mark.slow
def test_coarse_levels_of_a_very_wide_picture_get_a_margin_they_can_reflect(backbone):
    # 32:1: at the 1086 px level the short side is 34 px, and 1/32 of the long side would be 34
    # too, wider than a reflection allows. Callbacks see the level's picture without the margin.
    strip = torch.rand(1, 3, 48, 1536, generator=torch.Generator().manual_seed(0))
    events = []
    params = StyleParams(size=1536, iterations=1, pyramid_start=1024, tile_size=2048, device="cpu", chroma_tv_weight=0.0)
    result = stylize(strip, stripes(), params, backbone=backbone, callbacks=[events.append])
    assert [e.size for e in events] == [(34, 1086), (48, 1536)]
    assert events[0].image().shape[-2:] == (34, 1086)
    assert result.image.shape[-2:] == (48, 1536)


@pytest.mark.slow
def test_progress_follows_the_cost_of_the_levels_not_the_count_of_steps(backbone, cat):
    # Two levels of 4 steps each: 64 px then 91 px. A step of the larger level costs more, so
    # after the first level less than half of the work is done although half of the steps are.
    events = []
    params = StyleParams(**{**TINY, "size": 91, "pyramid_start": 64, "iterations": 4})
    stylize(cat, stripes(), params, backbone=backbone, callbacks=[events.append])
    progress = [e.progress for e in events]
    assert [e.level for e in events] == [0] * 4 + [1] * 4
    assert progress == sorted(progress) and progress[-1] == pytest.approx(1.0)
    assert 0.1 < progress[3] < 0.5
    # Within a level the work grows by the same amount every step.
    steps_of_second = [b - a for a, b in zip(progress[4:], progress[5:])]
    assert max(steps_of_second) == pytest.approx(min(steps_of_second))
    assert steps_of_second[0] > progress[1] - progress[0]


@pytest.mark.slow
def test_the_histogram_palette_term_moves_the_colours_toward_the_styles_distribution(backbone, cat):
    # Style: half pure red, half pure blue pixels. Mean and covariance can be met by purple-ish
    # mixtures; the histogram term asks for the two colours themselves.
    style = torch.zeros(1, 3, 64, 64)
    style[:, 0, :, :32] = 1.0
    style[:, 2, :, 32:] = 1.0
    params = StyleParams(**{**TINY, "iterations": 30, "style_weight": 0.0, "content_weight": 0.01,
                            "color_weight": 100.0, "color_statistic": "histogram", "tv_weight": 0.0})
    result = stylize(cat, style, params, backbone=backbone).image
    red, blue = result[0, 0].flatten(), result[0, 2].flatten()
    # Most pixels end near one of the two style colours: strongly red or strongly blue.
    assert ((red - blue).abs() > 0.6).float().mean() > 0.6


def test_every_untiled_level_has_a_margin_and_the_last_one_a_narrow_one():
    # 384x202 (Hoover Tower at --size 384): without a margin on the last level a 2-3 px band of
    # speckle ran along the top edge, where "same" padding of the odd-height stages adds zeros.
    from painterly.pyramid import Pyramid, margin_for

    levels = Pyramid.plan((400, 760), StyleParams(size=384)).levels
    assert [lv.margin for lv in levels[:-1]] == [margin_for(lv.hw) for lv in levels[:-1]]
    assert levels[-1].hw == (202, 384) and levels[-1].margin == margin_for((202, 384)) // 4 == 3
    # The margin's pixels are part of what a step costs.
    px = 208 * 390
    assert levels[-1].step_cost == pytest.approx(px + 36_000)
    # A level's work is its setup (6 per pixel of the level, without the margin) plus its steps.
    assert levels[-1].work == pytest.approx(6 * 202 * 384 + levels[-1].steps * levels[-1].step_cost)
