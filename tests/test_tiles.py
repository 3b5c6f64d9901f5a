import pytest
import torch

from painterly.tiles import blend_into, feather, tile_boxes


@pytest.mark.parametrize("h, w, tile, overlap", [(100, 250, 64, 16), (64, 64, 64, 16), (300, 31, 128, 32)])
def test_tiles_cover_the_image_overlap_and_stay_inside(h, w, tile, overlap):
    boxes = tile_boxes(h, w, tile, overlap)
    covered = torch.zeros(h, w)
    for y0, y1, x0, x1 in boxes:
        assert 0 <= y0 < y1 <= h and 0 <= x0 < x1 <= w
        assert y1 - y0 <= tile and x1 - x0 <= tile
        covered[y0:y1, x0:x1] += 1
    assert covered.min() >= 1
    rows = sorted({(b[0], b[1]) for b in boxes})
    for (_a0, a1), (b0, _) in zip(rows, rows[1:]):
        assert a1 - b0 >= overlap  # neighbours share at least the overlap


def test_feathered_blending_of_identical_tiles_reproduces_them_and_ramps_inside_only():
    h, w, tile, overlap = 40, 70, 32, 8
    canvas = torch.zeros(1, 3, h, w)
    for box in tile_boxes(h, w, tile, overlap):
        blend_into(canvas, torch.ones(1, 3, box[1] - box[0], box[3] - box[2]), box, feather(box, h, w, overlap))
    # The first tile covers its area at full weight from the borders; later ones blend toward 1.
    assert canvas.min() > 0.85 and canvas.max() <= 1.0 + 1e-6
    weights = feather((0, 32, 0, 32), h, w, overlap)
    assert weights[0, 0, 0, 0] == 1.0  # image corner: border sides are not ramped
    assert weights[0, 0, 31, 31] < 0.2  # inner corner: ramped on both inner sides


def test_tiles_that_disagree_meet_in_a_gradual_ramp_not_a_seam():
    h, w, tile, overlap = 16, 56, 32, 8
    boxes = tile_boxes(h, w, tile, overlap)
    assert len(boxes) == 2
    canvas = torch.full((1, 1, h, w), 0.5)
    for value, box in zip((0.0, 1.0), boxes):
        blend_into(canvas, torch.full((1, 1, box[1] - box[0], box[3] - box[2]), value), box, feather(box, h, w, overlap))
    row = canvas[0, 0, 0]
    assert row[0] == 0.0 and row[-1] == 1.0
    assert (row[1:] - row[:-1]).abs().max() < 0.2  # pasted tiles would jump by 1
