"""depth_colored: a fixed metric colour scale (near warm, far cold, invalid black) with a legend in metres.

The expected colours are the ones docs/depth-model.md ("The coloured view") documents, written out here: a change of
the colour map must change the documentation too.
"""

import numpy as np
import pytest

from jdd_ros.depth.colorize import (
    DEFAULT_FAR_M,
    colorize_depth,
    colour_scale_far,
    depth_colour,
    legend_layout,
    nice_ticks,
)

# docs/depth-model.md, "The coloured view": the colour at each fraction of the scale 0..far.
DOCUMENTED = {0.0: (122, 4, 3), 0.25: (251, 129, 34), 0.5: (164, 252, 60), 0.75: (40, 188, 235), 1.0: (48, 18, 59)}


@pytest.mark.parametrize('far', [10.0, 4.0, 2.5])
def test_a_known_depth_has_the_documented_colour_on_a_fixed_scale(far):
    fractions = list(DOCUMENTED)
    depth = np.array([[max(f * far, 1e-4) for f in fractions] + [np.nan, 0.0, -1.0, 2 * far]], np.float32)
    rgb = colorize_depth(depth, far, legend=False)
    for i, fraction in enumerate(fractions):
        assert tuple(rgb[0, i]) == DOCUMENTED[fraction], (far, fraction)
    assert (rgb[0, len(fractions):len(fractions) + 3] == 0).all()  # NaN, 0 and negative: invalid, black
    assert tuple(rgb[0, -1]) == DOCUMENTED[1.0]  # beyond the scale: the colour of its far end


def test_near_is_warm_and_far_is_cold_and_the_scale_does_not_follow_the_frame():
    near = depth_colour(np.float32(0.5), 10.0).astype(int)
    far = depth_colour(np.float32(9.5), 10.0).astype(int)
    assert near[0] > near[2] and far[2] > far[0]
    # Two frames with different ranges: the same distance keeps its colour (no per-frame stretching).
    a = colorize_depth(np.full((4, 4), 2.0, np.float32), 10.0, legend=False)
    b = colorize_depth(np.array([[2.0, 2.0], [7.0, 9.0]], np.float32), 10.0, legend=False)
    assert tuple(a[0, 0]) == tuple(b[0, 0]) == tuple(depth_colour(np.float32(2.0), 10.0))


def test_the_scale_ends_at_max_depth_when_set_else_at_the_model_range():
    assert colour_scale_far(3, 10.0) == 3.0  # an integer max_depth, as users type it
    assert colour_scale_far(0.0, 10.0) == 10.0
    assert colour_scale_far(0.0, 0.0) == DEFAULT_FAR_M  # a model without a range (ONNX sidecar max_depth 0)
    with pytest.raises(ValueError, match='far end'):
        colorize_depth(np.ones((2, 2), np.float32), 0.0)


def test_the_legend_shows_the_scale_and_its_metres():
    depth = np.full((480, 640), np.nan, np.float32)  # all invalid: everything not black is the legend
    rgb = colorize_depth(depth, 10.0)
    legend = legend_layout(640, 480, 10.0)
    assert [text for _, text in legend.ticks] == ['0', '2', '4', '6', '8', '10 m']
    assert not rgb[:legend.top].any()  # the legend covers only its band at the bottom
    bar_row = rgb[(legend.bar_top + legend.bar_bottom) // 2]
    assert tuple(bar_row[legend.x0]) == DOCUMENTED[0.0] and tuple(bar_row[legend.x1]) == DOCUMENTED[1.0]
    for metres in (2.5, 5.0, 7.5):  # within one pixel column of the documented colour (one TURBO step)
        colour = bar_row[legend.column(metres)].astype(int)
        assert np.abs(colour - DOCUMENTED[metres / 10.0]).max() <= 6, (metres, colour)
    white = (rgb[legend.bar_bottom:] > 160).all(axis=-1)  # anti-aliased white text
    for x, text in legend.ticks:  # each label drawn in white below its tick
        assert white[:, max(0, x - 8):x + 9].sum() > 10, text
    # On real depth the pixels above the legend keep their colours.
    real = np.linspace(0.5, 9.5, 480 * 640, dtype=np.float32).reshape(480, 640)
    np.testing.assert_array_equal(colorize_depth(real, 10.0)[:legend.top],
                                  colorize_depth(real, 10.0, legend=False)[:legend.top])


def test_tick_labels_are_round_metres():
    assert nice_ticks(10.0) == [0, 2, 4, 6, 8, 10]
    assert nice_ticks(3.5) == [0, 1, 2, 3]
    assert nice_ticks(2.0) == [0, 0.5, 1.0, 1.5, 2.0]
    assert nice_ticks(0.7) == [0, 0.2, 0.4, 0.6]
    labels = [text for _, text in legend_layout(320, 240, 0.7).ticks]
    assert labels == ['0', '0.2', '0.4', '0.6 m']


def test_an_image_too_small_for_a_legend_gets_none():
    depth = np.full((40, 100), 2.0, np.float32)
    assert legend_layout(100, 40, 10.0) is None
    np.testing.assert_array_equal(colorize_depth(depth, 10.0), colorize_depth(depth, 10.0, legend=False))
