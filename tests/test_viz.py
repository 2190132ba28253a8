"""The pictures: each returns a Figure, writes a PNG when asked, and draws what it says."""

import re

import matplotlib.pyplot as plt
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from tinycnn import viz
from tinycnn.boxes import center_to_corners
from tinycnn.data.faces import landmark_dataset
from tinycnn.data.scenes import CLASS_NAMES, localization_dataset

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def scenes():
    images, targets = localization_dataset(6, image_size=32, seed=2)
    predictions = targets.copy()
    predictions[:, 0] = np.where(targets[:, 0] == 1, 0.9, 0.2)
    predictions[:, 5:] = np.where(targets[:, :1] == 1, 0.8 * targets[:, 5:] + 0.1, 1 / 3)
    return images, targets, predictions


@pytest.fixture(scope="module")
def portraits():
    images, targets = landmark_dataset(5, image_size=32, seed=2)
    predictions = targets.copy()
    predictions[:, 1:] = np.clip(targets[:, 1:] + 0.02, 0, 1) * (targets[:, :1] == 1)
    return images, targets, predictions


def assert_png(path):
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 1000


def image_axes(figure):
    return [ax for ax in figure.axes if ax.get_visible() and ax.images]


def test_show_localization_draws_a_box_per_object_and_labels_truth_and_prediction(scenes, tmp_path):
    images, targets, predictions = scenes
    path = tmp_path / "scenes.png"
    figure = viz.show_localization(images, targets, predictions, ncols=4, path=path)
    assert isinstance(figure, Figure)
    assert_png(path)
    axes = image_axes(figure)
    assert len(axes) == len(images)
    for ax, truth in zip(axes, targets, strict=True):
        boxes = [patch for patch in ax.patches if isinstance(patch, Rectangle)]
        if truth[0] == 1:
            name = CLASS_NAMES[int(truth[5:].argmax())]
            assert ax.get_title() == name and ax.get_xlabel() == f"{name} 0.90"
            assert len(boxes) == 2
            b_x, b_y, b_h, b_w = truth[1:5] * 32
            assert boxes[0].get_xy() == pytest.approx((b_x - b_w / 2, b_y - b_h / 2))
            assert boxes[0].get_width() == pytest.approx(b_w)
        else:
            assert ax.get_title() == ax.get_xlabel() == "no object"
            assert not boxes


def test_show_localization_works_with_truth_or_prediction_alone(scenes, tmp_path):
    images, targets, predictions = scenes
    only_truth = viz.show_localization(images[:, 0], y_true=targets)
    assert all(ax.get_xlabel() == "" for ax in image_axes(only_truth))
    only_prediction = viz.show_localization(images, y_pred=predictions, path=tmp_path / "p.png")
    assert all(ax.get_title() == "" for ax in image_axes(only_prediction))
    assert_png(tmp_path / "p.png")


def test_show_landmarks_marks_three_named_points_per_face(portraits, tmp_path):
    images, targets, predictions = portraits
    figure = viz.show_landmarks(images, targets, predictions, path=tmp_path / "faces.png")
    assert isinstance(figure, Figure)
    assert_png(tmp_path / "faces.png")
    for ax, truth in zip(image_axes(figure), targets, strict=True):
        names = [text.get_text() for text in ax.texts]
        if truth[0] == 1:
            assert names == list(viz.LANDMARK_LABELS)
            true_dots = [line for line in ax.lines if line.get_marker() == "o"][0]
            np.testing.assert_allclose(true_dots.get_xdata(), truth[1::2] * 32)
            np.testing.assert_allclose(true_dots.get_ydata(), truth[2::2] * 32)
            assert ax.get_xlabel() == "face 1.00"
        else:
            assert names == [] and ax.get_title() == "no face"


def test_plot_history_gives_each_quantity_a_panel_with_whole_epochs(tmp_path):
    history = {
        "loss": [1.0, 0.5, 0.3],
        "val_loss": [1.1, 0.6, 0.4],
        "val_pc_accuracy": [0.5, 0.8, 0.9],
        "val_nme": [0.2, 0.05, 0.03],
    }
    figure = viz.plot_history(history, path=tmp_path / "history.png")
    assert_png(tmp_path / "history.png")
    losses, accuracy, nme = [ax for ax in figure.axes if ax.get_visible()]
    assert [line.get_label() for line in losses.lines] == ["training", "validation"]
    assert losses.get_title() == "loss" and accuracy.get_title() == "pc accuracy"
    assert [line.get_label() for line in nme.lines] == ["validation"]
    np.testing.assert_array_equal(nme.lines[0].get_ydata(), history["val_nme"])
    for ax in (losses, accuracy, nme):
        np.testing.assert_array_equal(ax.lines[0].get_xdata(), [1, 2, 3])
        ticks = [tick for tick in ax.get_xticks() if 1 <= tick <= 3]
        assert ticks and all(float(tick).is_integer() for tick in ticks)
    assert losses.get_yscale() == "linear"  # 0.3 to 1.1: less than a factor of 10
    flat = viz.plot_history({"val_pc_accuracy": [1.0, 1.0, 1.0]}).axes[0]
    assert 1.0 < flat.get_ylim()[1] <= 1.002 and flat.get_ylim()[0] < 1.0
    assert all(tick <= 1.0 for tick in flat.get_yticks() if tick <= flat.get_ylim()[1])
    assert len(viz.plot_history({"loss": [2.0, 1.0]}).axes) == 1


def test_plot_history_labels_a_log_loss_axis_between_the_powers_of_ten():
    figure = viz.plot_history({"loss": [0.6, 0.2, 0.09, 0.05, 0.03]})
    ax = figure.axes[0]
    assert ax.get_yscale() == "log"
    figure.canvas.draw()
    labels = [label.get_text() for label in ax.get_yticklabels() if label.get_text()]
    bottom, top = ax.get_ylim()
    shown = [tick for tick in ax.get_yticks() if bottom <= tick <= top]
    assert len(shown) >= 4 and set(labels) >= {"0.05", "0.1", "0.2", "0.5"}


def test_plot_history_with_many_metrics_uses_a_grid():
    history = {f"val_metric_{index}": [0.1, 0.2] for index in range(5)}
    figure = viz.plot_history(history, ncols=3)
    assert len([ax for ax in figure.axes if ax.get_visible()]) == 5
    assert len(figure.axes) == 6


def test_uint8_images_are_drawn_on_the_0_to_255_scale(scenes):
    images, targets, _ = scenes
    as_uint8 = np.round(images * 255).astype(np.uint8)
    figure = viz.show_localization(as_uint8, targets)
    shown = image_axes(figure)[0].images[0].get_array()
    np.testing.assert_allclose(shown, images[0, 0], atol=0.5 / 255)


@pytest.mark.parametrize(
    ("images", "error", "message"),
    [
        (np.full((2, 8, 8), 255.0), ValueError, r"\[0, 1\].*255.*images / 255"),
        (np.full((2, 8, 8), -0.5), ValueError, r"\[0, 1\]"),
        (np.array([[[np.nan, 2.0]]]), ValueError, r"values from 2 to 2"),
        (np.array([[[np.nan, np.inf]]]), ValueError, r"values from inf to inf"),
        (np.zeros((2, 8, 8), dtype=np.int64), TypeError, r"uint8.*astype"),
    ],
)
def test_images_outside_the_drawable_range_are_refused(images, error, message):
    with pytest.raises(error, match=message):
        viz.show_localization(images)
    with pytest.raises(error, match=message):
        viz.show_landmarks(images)


@pytest.mark.parametrize("show", [viz.show_localization, viz.show_landmarks])
def test_one_image_keeps_its_legend_inside_the_figure(scenes, portraits, show):
    images, targets, predictions = scenes if show is viz.show_localization else portraits
    figure = show(images[:1], targets[:1], predictions[:1])
    figure.canvas.draw()
    (legend,) = figure.legends
    box = legend.get_window_extent()
    width, height = figure.canvas.get_width_height()
    assert box.x0 >= 0 and box.x1 <= width and box.y1 <= height


def test_show_filters_shows_single_channel_filters_one_by_one(tmp_path):
    weights = np.random.default_rng(0).normal(size=(6, 1, 3, 3))
    figure = viz.show_filters(weights, path=tmp_path / "filters.png")
    assert_png(tmp_path / "filters.png")
    axes = image_axes(figure)
    assert len(axes) == 6
    np.testing.assert_array_equal(axes[2].images[0].get_array(), weights[2, 0])


def test_show_filters_lays_many_channels_out_as_a_mosaic(tmp_path):
    weights = np.random.default_rng(1).normal(size=(4, 3, 5, 5))
    figure = viz.show_filters(weights, path=tmp_path / "mosaic.png")
    assert_png(tmp_path / "mosaic.png")
    mosaic = image_axes(figure)[0].images[0].get_array()
    assert mosaic.shape == (4 * 6 - 1, 3 * 6 - 1)
    np.testing.assert_array_equal(mosaic[6:11, 12:17], weights[1, 2])


def test_show_feature_maps_gives_each_channel_its_own_scale(tmp_path):
    maps = np.random.default_rng(2).random((5, 8, 8)) * np.arange(1, 6)[:, None, None]
    figure = viz.show_feature_maps(maps, ncols=3, path=tmp_path / "maps.png")
    assert_png(tmp_path / "maps.png")
    axes = image_axes(figure)
    assert len(axes) == 5
    for ax, channel in zip(axes, maps, strict=True):
        assert ax.images[0].get_clim() == pytest.approx((channel.min(), channel.max()))


def test_no_figure_is_left_open_in_pyplot(scenes, portraits):
    plt.close("all")
    viz.show_localization(*scenes)
    viz.show_landmarks(*portraits)
    viz.plot_history({"loss": [1.0]})
    viz.show_filters(np.zeros((2, 1, 3, 3)))
    viz.show_feature_maps(np.zeros((2, 4, 4)))
    assert plt.get_fignums() == []


IMAGES = np.zeros((2, 8, 8))


@pytest.mark.parametrize(
    ("call", "error", "name"),
    [
        (lambda: viz.show_localization(np.zeros((2, 3, 8, 8))), ValueError, "images"),
        (lambda: viz.show_localization(IMAGES, np.zeros((2, 7))), ValueError, "y_true"),
        (lambda: viz.show_localization(IMAGES, y_pred=np.zeros((3, 8))), ValueError, "y_pred"),
        (lambda: viz.show_localization(IMAGES, ncols=0), ValueError, "ncols"),
        (lambda: viz.show_localization(np.zeros((0, 8, 8))), ValueError, "images"),
        (lambda: viz.show_landmarks(IMAGES, np.zeros((2, 8))), ValueError, "y_true"),
        (lambda: viz.show_landmarks("faces"), TypeError, "images"),
        (lambda: viz.plot_history([1.0, 2.0]), TypeError, "history"),
        (lambda: viz.plot_history({"loss": []}), ValueError, "loss"),
        (lambda: viz.plot_history({"loss": ["a"]}), TypeError, "loss"),
        (lambda: viz.show_filters(np.zeros((2, 3, 3))), ValueError, "weights"),
        (lambda: viz.show_feature_maps(np.zeros((1, 2, 4, 4))), ValueError, "maps"),
    ],
)
def test_bad_input_is_refused_by_name(call, error, name):
    with pytest.raises(error, match=name):
        call()


NO_NUMBERS = {
    "bool": True,
    "bools": np.ones((2, 8), bool),
    "complex": np.zeros((2, 8), complex),
    "objects": np.full((2, 8), None, dtype=object),
    "list of None": [[None] * 8] * 2,
}
ARRAY_ARGUMENTS = {
    "images": lambda value: viz.show_localization(value),
    "y_true": lambda value: viz.show_localization(IMAGES, value),
    "y_pred": lambda value: viz.show_landmarks(IMAGES, y_pred=value),
    "errors": lambda value: viz.show_worst(IMAGES, None, None, value),
    "weights": lambda value: viz.show_filters(value),
    "maps": lambda value: viz.show_feature_maps(value),
    "history['loss']": lambda value: viz.plot_history({"loss": value}),
}


@pytest.mark.parametrize("call", ARRAY_ARGUMENTS.values(), ids=ARRAY_ARGUMENTS.keys())
@pytest.mark.parametrize("value", NO_NUMBERS.values(), ids=NO_NUMBERS.keys())
def test_arrays_of_no_numbers_are_a_type_error_naming_the_argument(call, value):
    """None, bools, complex numbers and objects were read by float() (None as NaN, True as 1):
    a wrong type, drawn as if it were numbers or refused for its shape."""
    name = next(key for key, known in ARRAY_ARGUMENTS.items() if known is call)
    with pytest.raises(TypeError, match=f"^{re.escape(name)} must be .*numbers"):
        call(value)


@pytest.mark.parametrize("name", ["images", "errors", "weights", "maps"])
def test_none_where_an_array_is_needed_is_a_type_error_naming_it(name):
    with pytest.raises(TypeError, match=f"^{name} must be .*numbers"):
        ARRAY_ARGUMENTS[name](None)


@pytest.mark.parametrize("kind", [None, True, 1, ("localization",)])
def test_show_worst_names_a_kind_that_is_no_string(kind):
    with pytest.raises(TypeError, match="kind must be 'localization' or 'landmarks', got"):
        viz.show_worst(IMAGES, None, None, np.ones(2), kind=kind)


@pytest.mark.parametrize("values", [1.0, 3, np.float64(0.5)])
def test_plot_history_names_a_value_that_is_one_number_not_a_list(values):
    with pytest.raises(TypeError, match=r"history\['loss'\] must be a non-empty list of numbers"):
        viz.plot_history({"loss": values})


def test_show_worst_picks_the_largest_errors_and_skips_nan():
    x, y = localization_dataset(6, image_size=32, seed=4)
    errors = np.array([0.1, np.nan, 0.7, 0.3, np.nan, 0.9])
    figure = viz.show_worst(x, y, y, errors, count=3)
    np.testing.assert_array_equal(figure.worst, [5, 2, 3])
    titles = [ax.get_title() for ax in viz.image_axes(figure)]
    labels = [viz._scene_label(y[i], CLASS_NAMES, 0.5) for i in figure.worst]
    assert titles == [
        f"{label}  (error {errors[i]:.2f})" for label, i in zip(labels, figure.worst, strict=True)
    ]
    with pytest.raises(ValueError, match="errors must have shape"):
        viz.show_worst(x, y, y, errors[:3])
    with pytest.raises(ValueError, match="kind"):
        viz.show_worst(x, y, y, errors, kind="faces")


# draw_boxes: a box covering pixel columns 2..5 and rows 1..3 of an 8 x 8 image, i.e. from x = 2/8
# to 6/8 and from y = 1/8 to 4/8 of the image.
PIXEL_BOX = np.array([4 / 8, 2.5 / 8, 3 / 8, 4 / 8])


def axes_showing(image, **imshow_arguments):
    ax = Figure().add_subplot()
    ax.imshow(image, **imshow_arguments)
    return ax


def edges(rectangle):
    """(x_left, x_right, y_first, y_second) of a Rectangle, in data coordinates."""
    x, y = rectangle.get_xy()
    return x, x + rectangle.get_width(), y, y + rectangle.get_height()


@pytest.mark.parametrize(
    ("extent", "expected"),
    [
        (None, (1.5, 5.5, 0.5, 3.5)),  # imshow's default: pixel j covers [j - 0.5, j + 0.5]
        ((0, 8, 8, 0), (2, 6, 1, 4)),  # pixel edges, as show_localization draws its scenes
        ((0, 1, 1, 0), (0.25, 0.75, 0.125, 0.5)),  # fractions, as lesson 1 draws its car
    ],
)
def test_draw_boxes_puts_a_box_on_the_edges_of_the_pixels_it_covers(extent, expected):
    ax = axes_showing(np.zeros((8, 8)), extent=extent)
    (rectangle,) = viz.draw_boxes(ax, PIXEL_BOX)
    assert ax.patches[:] == [rectangle]
    assert edges(rectangle) == pytest.approx(expected)
    assert rectangle.get_edgecolor() == pytest.approx(to_rgba(viz.TRUE_COLOUR))
    assert not rectangle.get_fill()


def test_draw_boxes_on_an_image_with_its_first_row_at_the_bottom():
    ax = axes_showing(np.zeros((8, 8)), origin="lower")  # default extent (-0.5, 7.5, -0.5, 7.5)
    (rectangle,) = viz.draw_boxes(ax, PIXEL_BOX)
    assert sorted(edges(rectangle)[2:]) == pytest.approx([0.5, 3.5])


def test_draw_boxes_follows_the_picture_not_an_overlay_drawn_on_it():
    ax = axes_showing(np.zeros((8, 8)))
    ax.imshow(np.zeros((2, 3)), alpha=0.5, extent=(1, 4, 6, 2))
    (rectangle,) = viz.draw_boxes(ax, PIXEL_BOX)
    assert edges(rectangle) == pytest.approx((1.5, 5.5, 0.5, 3.5))


@given(
    height=st.integers(1, 300),
    width=st.integers(1, 300),
    boxes=st.lists(st.lists(st.floats(0, 1), min_size=4, max_size=4), min_size=1, max_size=5),
)
def test_draw_boxes_on_default_extent_sits_half_a_pixel_before_the_pixel_edges(
    height, width, boxes
):
    ax = axes_showing(np.zeros((height, width)))
    boxes = np.array(boxes)
    for rectangle, (b_x, b_y, b_h, b_w) in zip(viz.draw_boxes(ax, boxes), boxes, strict=True):
        expected = (
            (b_x - b_w / 2) * width - 0.5,
            (b_x + b_w / 2) * width - 0.5,
            (b_y - b_h / 2) * height - 0.5,
            (b_y + b_h / 2) * height - 0.5,
        )
        assert edges(rectangle) == pytest.approx(expected, abs=1e-9)


@given(
    extent=st.lists(st.floats(-100, 100), min_size=4, max_size=4),
    centre=st.lists(st.floats(-0.5, 1.5), min_size=2, max_size=2),
    size=st.lists(st.floats(0, 2), min_size=2, max_size=2),
)
def test_draw_boxes_maps_fractions_through_any_extent(extent, centre, size):
    box = centre + size  # b_h, b_w >= 0: draw_boxes refuses a negative size
    left, right, bottom, top = extent
    assume(abs(right - left) > 1e-3 and abs(bottom - top) > 1e-3)
    ax = axes_showing(np.zeros((5, 7)), extent=extent)
    (rectangle,) = viz.draw_boxes(ax, box)
    x_min, y_min, x_max, y_max = center_to_corners(np.array(box))
    expected = (
        left + x_min * (right - left),
        left + x_max * (right - left),
        top + y_min * (bottom - top),
        top + y_max * (bottom - top),
    )
    assert edges(rectangle) == pytest.approx(expected, abs=1e-9)


def test_draw_boxes_draws_a_batch_one_patch_each_with_its_colour_and_text():
    ax = axes_showing(np.zeros((8, 8)))
    boxes = np.array([PIXEL_BOX, [0.5, 0.5, 1.0, 1.0], [0.25, 0.75, 0.25, 0.25]])
    colours = ["tab:red", "tab:green", "tab:blue"]
    patches = viz.draw_boxes(
        ax, boxes, colours, linestyle="--", linewidth=0.8, texts=["a", "b", "c"]
    )
    assert len(patches) == len(ax.patches) == 3
    assert edges(patches[1]) == pytest.approx((-0.5, 7.5, -0.5, 7.5))
    for patch, colour in zip(patches, colours, strict=True):
        assert patch.get_edgecolor() == pytest.approx(to_rgba(colour))
        assert patch.get_linestyle() == "--" and patch.get_linewidth() == 0.8
    assert [text.get_text() for text in ax.texts] == ["a", "b", "c"]
    assert [text.get_color() for text in ax.texts] == colours
    # Each text stands above its box's top-left corner: y grows downwards on an image's axes.
    for text, patch in zip(ax.texts, patches, strict=True):
        assert text.xy == pytest.approx(patch.get_xy())
        assert text.get_verticalalignment() == "bottom"


def test_draw_boxes_passes_style_to_the_rectangles_and_draws_no_boxes_for_none():
    ax = axes_showing(np.zeros((4, 4)))
    (cell,) = viz.draw_boxes(ax, [0.5, 0.5, 0.5, 0.5], "yellow", fill=True, alpha=0.25)
    assert cell.get_fill() and cell.get_alpha() == 0.25
    assert cell.get_facecolor() == pytest.approx(to_rgba("yellow", 0.25))
    assert viz.draw_boxes(ax, np.zeros((0, 4))) == []
    assert len(ax.patches) == 1


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"boxes": [0.5, 0.5, 0.2]}, ValueError, "boxes must have shape"),
        ({"boxes": np.zeros((2, 3, 4))}, ValueError, "boxes must have shape"),
        ({"boxes": [0.5, np.nan, 0.2, 0.2]}, ValueError, "boxes must hold finite"),
        ({"boxes": ["a", "b", "c", "d"]}, TypeError, "boxes"),
        ({"colour": ["red", "blue"]}, ValueError, "colour must hold one item per box"),
        ({"colour": 3}, TypeError, "colour"),
        ({"texts": ["0.9", "0.8"]}, ValueError, "texts must hold one item per box"),
        ({"texts": [0.9]}, TypeError, r"texts\[0\] must be a string"),
        ({"colour": {"red": 1}}, TypeError, "colour must be one value or a sequence"),
        ({"texts": {"a": 1}}, TypeError, "texts must be one value or a sequence"),
        ({"linestyle": True}, TypeError, "linestyle must be a matplotlib line style"),
        ({"linestyle": 2}, TypeError, "linestyle must be a matplotlib line style"),
        ({"linestyle": {"-": 1}}, TypeError, "linestyle must be a matplotlib line style"),
        ({"colour": ["red", "nocolour"], "boxes": [PIXEL_BOX] * 2}, TypeError, r"colour\[1\]"),
        ({"boxes": [0.5, 0.5, -0.2, 0.2]}, ValueError, "b_h, b_w >= 0"),
        ({"boxes": [[0.5, 0.5, 0.2, 0.2], [0.5, 0.5, 0.2, -1e-9]]}, ValueError, "b_h, b_w >= 0"),
        ({"color": "red"}, TypeError, "colour="),
        ({"linewidth": -1.0}, ValueError, "linewidth"),
        ({"linewidth": "thick"}, TypeError, "linewidth"),
        ({"fontsize": 0}, ValueError, "fontsize"),
        ({"fontsize": np.nan}, ValueError, "fontsize"),
    ],
)
def test_draw_boxes_refuses_bad_arguments_by_name(arguments, error, message):
    arguments = {"boxes": PIXEL_BOX, **arguments}
    with pytest.raises(error, match=message):
        viz.draw_boxes(axes_showing(np.zeros((8, 8))), **arguments)


def test_draw_boxes_needs_axes_that_show_an_image():
    with pytest.raises(ValueError, match="ax shows no image"):
        viz.draw_boxes(Figure().add_subplot(), PIXEL_BOX)
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes"):
        viz.draw_boxes(Figure(), PIXEL_BOX)


# A diverged model still gets its picture, with NaN shown as NaN and never as an answer.


def test_show_localization_names_nan_instead_of_inventing_a_class(scenes):
    images, targets, _ = scenes
    predictions = targets.copy()
    predictions[:, 0] = 0.9
    predictions[0, 5:] = np.nan  # NaN class scores: argmax would say "pedestrian"
    predictions[1, 0] = np.nan  # NaN p_c: neither an object nor "no object"
    predictions[2, 1:5] = np.nan  # a NaN box that cannot be drawn
    predictions[3, 1:5] = [0.5, 0.5, np.inf, 0.2]
    predictions[4, 3:5] = [-0.2, 0.3]
    figure = viz.show_localization(images[:5], None, predictions[:5])
    axes = image_axes(figure)
    labels = [ax.get_xlabel() for ax in axes]
    assert labels[0] == "class nan 0.90"
    assert labels[1] == "p_c nan"
    name = CLASS_NAMES[int(np.argmax(predictions[2, 5:]))]
    assert labels[2] == f"{name} 0.90, box nan"
    assert labels[3].endswith(", box inf") and labels[4].endswith(", box size < 0")
    assert [len(ax.patches) for ax in axes] == [1, 0, 0, 0, 0]
    truth = targets.copy()
    truth[0, 0] = np.nan
    assert image_axes(viz.show_localization(images[:1], truth[:1]))[0].get_title() == "p_c nan"


@given(
    p_c=st.one_of(st.floats(0, 1), st.just(np.nan)),
    scores=st.lists(st.one_of(st.floats(0, 1), st.just(np.nan)), min_size=3, max_size=3),
    box=st.lists(
        st.one_of(st.floats(-1, 2), st.sampled_from([np.nan, np.inf, -np.inf])),
        min_size=4,
        max_size=4,
    ),
)
def test_a_localization_label_never_names_a_class_its_scores_do_not_give(p_c, scores, box):
    row = np.array([p_c, *box, *scores])
    label = viz._scene_label(row, CLASS_NAMES, 0.5, with_p_c=True)
    if np.isnan(p_c):
        assert label == "p_c nan"
    elif p_c < 0.5:
        assert label == "no object"
    elif np.isnan(scores).any():
        assert label.startswith("class nan")
    else:
        assert label.startswith(f"{CLASS_NAMES[int(np.argmax(scores))]} {p_c:.2f}")
    if "nan" not in label and label != "no object":
        assert np.isfinite(box).all() or "box" in label


def test_show_landmarks_names_nan_and_leaves_out_points_that_are_not_finite(portraits):
    images, targets, _ = portraits
    predictions = targets.copy()
    predictions[:, 0] = 0.9
    predictions[0, 0] = np.nan
    predictions[1, 1:3] = np.nan  # the left mouth corner
    predictions[2, 5:7] = np.inf  # the chin
    figure = viz.show_landmarks(images[:3], None, predictions[:3])
    axes = image_axes(figure)
    assert [ax.get_xlabel() for ax in axes] == [
        "is_face nan",
        "face 0.90, points nan",
        "face 0.90, points inf",
    ]
    assert len(axes[0].lines) == len(axes[0].texts) == 0
    assert [text.get_text() for text in axes[1].texts] == ["R", "chin"]
    assert [text.get_text() for text in axes[2].texts] == ["L", "R"]
    crosses = [line for line in axes[2].lines if line.get_marker() == "x"][0]
    assert np.isnan(crosses.get_xdata()[2]) and np.isfinite(crosses.get_xdata()[:2]).all()


@pytest.mark.parametrize("show", [viz.show_localization, viz.show_landmarks])
@pytest.mark.parametrize(
    ("threshold", "error"),
    [(np.nan, ValueError), (1.5, ValueError), (-0.1, ValueError), ("0.5", TypeError)],
)
def test_threshold_must_be_a_probability(show, threshold, error):
    with pytest.raises(error, match="threshold"):
        show(IMAGES, threshold=threshold)


@pytest.mark.parametrize(
    ("class_names", "error"),
    [("ab", TypeError), (["car", 3], TypeError), ((), ValueError), (None, TypeError)],
)
def test_class_names_must_be_a_list_or_tuple_of_strings(class_names, error):
    with pytest.raises(error, match="class_names"):
        viz.show_localization(IMAGES, class_names=class_names)


def test_show_landmarks_draws_any_number_of_points():
    images = np.zeros((2, 8, 8))
    rows = np.array([[1.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], [0.0] * 9])
    figure = viz.show_landmarks(images, rows, rows)
    first = image_axes(figure)[0]
    assert [text.get_text() for text in first.texts] == ["1", "2", "3", "4"]
    dots = [line for line in first.lines if line.get_marker() == "o"][0]
    np.testing.assert_allclose(dots.get_xdata(), rows[0, 1::2] * 8)
    with pytest.raises(ValueError, match="y_pred must have shape"):
        viz.show_landmarks(images, rows, rows[:, :7])
    with pytest.raises(ValueError, match=r"y_true must have shape \(N, 1 \+ 2 L\)"):
        viz.show_landmarks(images, rows[:, :8])


# NaN weights and activations: painted in NAN_COLOUR, the scale made by the finite values.


def test_show_filters_scales_by_the_finite_weights_and_paints_nan(tmp_path):
    weights = np.random.default_rng(3).normal(size=(2, 1, 3, 3))
    weights[0, 0, 1, 1] = np.nan
    weights[1, 0, 0, 0] = np.inf
    figure = viz.show_filters(weights)
    largest = np.abs(weights[np.isfinite(weights)]).max()
    for ax in image_axes(figure):
        image = ax.images[0]
        assert image.get_clim() == pytest.approx((-largest, largest))
        assert image.get_cmap().get_bad() == pytest.approx(to_rgba(viz.NAN_COLOUR))
    assert "NaN weights (1)" in figure.get_suptitle()
    # Infinity at the scale's end (matplotlib would paint it as NaN), the other weights as they are.
    shown = image_axes(figure)[1].images[0].get_array()
    assert shown[0, 0] == largest
    np.testing.assert_array_equal(shown.ravel()[1:], weights[1, 0].ravel()[1:])
    mosaic = viz.show_filters(np.repeat(weights, 2, axis=1), path=tmp_path / "mosaic.png")
    assert_png(tmp_path / "mosaic.png")
    image = image_axes(mosaic)[0].images[0]
    assert image.get_clim() == pytest.approx((-largest, largest))
    # The picture: the NaN weights in NAN_COLOUR, the gaps between tiles in grey.
    pixels = plt.imread(tmp_path / "mosaic.png")[..., :3]
    for colour, least in ((viz.NAN_COLOUR, 2 * 15**2), ("0.3", 5 * 15**2)):
        shown = np.isclose(pixels, to_rgba(colour)[:3], atol=0.02).all(axis=-1)
        assert shown.sum() > least  # each weight takes well over 15 x 15 pixels


@pytest.mark.parametrize("weights", [np.full((2, 1, 3, 3), np.nan), np.zeros((2, 1, 3, 3))])
def test_show_filters_of_all_nan_or_zero_weights_keeps_a_unit_scale(weights):
    image = image_axes(viz.show_filters(weights))[0].images[0]
    assert image.get_clim() == (-1.0, 1.0)


def test_show_feature_maps_scales_each_channel_by_its_finite_values():
    maps = np.random.default_rng(4).random((3, 6, 6))
    maps[0, 0, 3] = np.nan
    maps[1, 2, 2] = -np.inf
    maps[2] = np.nan
    axes = image_axes(viz.show_feature_maps(maps))
    finite = maps[0][np.isfinite(maps[0])]
    assert axes[0].images[0].get_clim() == pytest.approx((finite.min(), finite.max()))
    finite = maps[1][np.isfinite(maps[1])]
    assert axes[1].images[0].get_clim() == pytest.approx((finite.min(), finite.max()))
    assert [ax.get_title() for ax in axes] == ["channel 0, nan", "channel 1", "channel 2, nan"]
    assert axes[0].images[0].get_cmap().get_bad() == pytest.approx(to_rgba(viz.NAN_COLOUR))
    assert axes[1].images[0].get_array()[2, 2] == finite.min()  # black, not painted as NaN


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: viz.show_filters(np.zeros((0, 1, 3, 3))), "weights"),
        (lambda: viz.show_filters(np.zeros((2, 0, 3, 3))), "weights"),
        (lambda: viz.show_feature_maps(np.zeros((0, 4, 4))), "maps"),
        (lambda: viz.show_feature_maps(np.zeros((2, 0, 4))), "maps"),
    ],
)
def test_empty_weights_and_maps_are_refused_by_name(call, name):
    with pytest.raises(ValueError, match=f"{name} must hold at least one"):
        call()


def test_show_worst_refuses_rows_that_do_not_match_the_images():
    x, y = localization_dataset(4, image_size=16, seed=5)
    errors = np.array([0.1, 0.2, 0.3, 0.4])
    with pytest.raises(ValueError, match=r"y_true must hold one row per image, shape \(4"):
        viz.show_worst(x, y[:3], y, errors)
    with pytest.raises(ValueError, match="y_pred must hold one row per image"):
        viz.show_worst(x, y, y[:, 0], errors)


# path=: a PNG file, refused by name where it would not be one.

SHOWS = {
    "show_localization": lambda path: viz.show_localization(IMAGES, path=path),
    "show_landmarks": lambda path: viz.show_landmarks(IMAGES, path=path),
    "show_worst": lambda path: viz.show_worst(IMAGES, None, None, np.ones(2), path=path),
    "plot_history": lambda path: viz.plot_history({"loss": [1.0, 0.5]}, path=path),
    "show_filters": lambda path: viz.show_filters(np.ones((2, 1, 3, 3)), path=path),
    "show_feature_maps": lambda path: viz.show_feature_maps(np.ones((2, 4, 4)), path=path),
}


@pytest.mark.parametrize("show", SHOWS.values(), ids=SHOWS.keys())
def test_path_is_written_as_a_png_with_png_appended_where_missing(show, tmp_path):
    show(tmp_path / "figure.png")
    show(str(tmp_path / "UPPER.PNG"))
    show(tmp_path / "run.v2")
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "UPPER.PNG",
        "figure.png",
        "run.v2.png",
    ]
    for path in tmp_path.iterdir():
        assert_png(path)


@pytest.mark.parametrize("show", SHOWS.values(), ids=SHOWS.keys())
@pytest.mark.parametrize(
    ("name", "error", "message"),
    [
        ("figure.jpg", ValueError, r"ends in \.jpg.*PNG"),
        ("figure.PDF", ValueError, r"ends in \.pdf.*PNG"),
        ("folder/", IsADirectoryError, "names a folder"),
        ("folder.png", IsADirectoryError, r"folder\.png is a folder"),
        ("missing/figure.png", FileNotFoundError, "missing does not exist"),
    ],
)
def test_path_that_would_not_hold_a_png_is_refused_by_name(show, name, error, message, tmp_path):
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder.png").mkdir()
    with pytest.raises(error, match=message):
        show(f"{tmp_path}/{name}")  # pathlib would drop the trailing separator of "folder/"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["folder", "folder.png"]
    assert list((tmp_path / "folder").iterdir()) == []


@pytest.mark.parametrize("show", SHOWS.values(), ids=SHOWS.keys())
def test_a_name_shared_with_a_folder_writes_the_png_beside_it(show, tmp_path):
    """As tinycnn.io.save writes runs.npz beside a folder runs/: only the file written counts."""
    (tmp_path / "runs").mkdir()
    show(tmp_path / "runs")
    assert_png(tmp_path / "runs.png")
    assert list((tmp_path / "runs").iterdir()) == []


@pytest.mark.parametrize("path", [3, b"figure.png", ""])
def test_path_of_the_wrong_kind_is_refused_by_name(path):
    with pytest.raises((TypeError, ValueError), match="path"):
        viz.show_feature_maps(np.ones((1, 4, 4)), path=path)


def visible_ticks(ax, axis="x"):
    low, high = ax.get_xlim() if axis == "x" else ax.get_ylim()
    ticks = ax.get_xticks() if axis == "x" else ax.get_yticks()
    return [tick for tick in ticks if min(low, high) <= tick <= max(low, high)]


@given(epochs=st.integers(1, 60))
def test_plot_history_ticks_whole_epochs_from_the_first(epochs):
    ax = viz.plot_history({"loss": np.linspace(1.0, 2.0, epochs)}).axes[0]
    ticks = visible_ticks(ax)
    assert ticks and all(float(tick).is_integer() for tick in ticks)
    if epochs == 1:
        assert ticks == [1.0]


def test_plot_history_marks_the_epochs_that_are_not_finite(tmp_path):
    history = {"loss": [100.0, np.nan, 0.5, 0.1], "val_loss": [1.2, 0.9, np.inf, 0.8]}
    ax = viz.plot_history(history, path=tmp_path / "history.png").axes[0]
    assert_png(tmp_path / "history.png")
    marks = {line.get_label(): line for line in ax.lines if line.get_label().endswith("nan/inf")}
    assert set(marks) == {"training: nan/inf", "validation: nan/inf"}
    np.testing.assert_array_equal(marks["training: nan/inf"].get_xdata(), [2])
    np.testing.assert_array_equal(marks["validation: nan/inf"].get_xdata(), [3])
    curves = {line.get_label(): line for line in ax.lines}
    assert marks["training: nan/inf"].get_color() == curves["training"].get_color()
    assert "training: nan/inf" in [text.get_text() for text in ax.get_legend().get_texts()]
    assert ax.get_yscale() == "log"  # the finite values span 0.1 to 100; NaN does not hide it


def test_plot_history_says_when_a_panel_has_no_finite_value():
    figure = viz.plot_history({"loss": [np.nan, np.inf], "val_accuracy": [0.5, 0.6]})
    empty, accuracy = figure.axes
    assert [text.get_text() for text in empty.texts] == ["no finite value"]
    assert accuracy.texts[:] == []


@pytest.mark.parametrize("origin", ["upper", "lower"])
def test_draw_boxes_writes_the_text_of_a_box_that_starts_off_the_image(origin, tmp_path):
    figure = Figure(figsize=(3, 3))
    ax = figure.add_subplot()
    ax.imshow(np.zeros((8, 8)), cmap="gray", origin=origin)
    box = [0.05, 0.05, 0.3, 0.3] if origin == "upper" else [0.05, 0.95, 0.3, 0.3]
    viz.draw_boxes(ax, box, "red", linewidth=0, texts=["XX"], fontsize=20)
    (text,) = ax.texts
    assert text.xy == pytest.approx((-0.5, -0.5 if origin == "upper" else 7.5))  # the corner
    figure.savefig(tmp_path / "box.png")
    pixels = plt.imread(tmp_path / "box.png")[..., :3]
    red = np.isclose(pixels, [1.0, 0.0, 0.0], atol=0.1).all(axis=-1)
    assert red.sum() > 20  # the text, the only red thing drawn (the box has no line)


def test_nan_pixels_are_painted_in_the_nan_colour():
    images = np.full((1, 4, 4), 0.5)
    images[0, 1, 2] = np.nan
    image = image_axes(viz.show_localization(images))[0].images[0]
    assert np.ma.getmaskarray(np.ma.masked_invalid(image.get_array()))[1, 2]  # drawn as NaN
    assert image.get_cmap().get_bad() == pytest.approx(to_rgba(viz.NAN_COLOUR))
    assert len(image_axes(viz.show_landmarks(np.full((1, 4, 4), np.nan)))) == 1


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda count: viz.show_filters(np.zeros((count, 1, 3, 3))), "weights"),
        (lambda count: viz.show_feature_maps(np.zeros((count, 2, 2))), "maps"),
        (lambda count: viz.show_localization(np.zeros((count, 1, 4, 4))), "images"),
        (lambda count: viz.show_landmarks(np.zeros((count, 4, 4))), "images"),
    ],
)
def test_more_panels_than_a_figure_shows_readably_are_refused_by_name(call, name):
    """Past MAX_PANELS images a figure is refused at once (10,000 used to draw for minutes)."""
    with pytest.raises(ValueError, match=rf"{name} holds {viz.MAX_PANELS + 1} images, more than"):
        call(viz.MAX_PANELS + 1)
