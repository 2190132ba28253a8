"""Tests for mean average precision: small cases worked by hand, and pycocotools as the oracle."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinycnn.boxes import center_to_corners
from tinycnn.metrics import average_precision, mean_average_precision, precision_recall_curve

pytestmark = pytest.mark.filterwarnings("error")

COCO_THRESHOLDS = np.linspace(0.5, 0.95, 10)


def scene(boxes, labels, scores=None):
    result = {
        "boxes": np.array(boxes, dtype=np.float64).reshape(-1, 4),
        "labels": np.array(labels, dtype=np.int64),
    }
    if scores is not None:
        result["scores"] = np.array(scores, dtype=np.float64)
    return result


CAR = [0.5, 0.5, 0.2, 0.4]
PEDESTRIAN = [0.2, 0.5, 0.4, 0.2]


def test_perfect_detections_score_one():
    truth = [scene([CAR, PEDESTRIAN], [1, 0])]
    found = [scene([CAR, PEDESTRIAN], [1, 0], [0.9, 0.8])]
    assert mean_average_precision(found, truth) == pytest.approx(1.0, abs=1e-12)
    assert mean_average_precision(found, truth, COCO_THRESHOLDS) == pytest.approx(1.0, abs=1e-12)


def test_a_worked_example():
    # Two cars to find. Detections by score: hit, miss, hit. Precision 1, 1/2, 2/3 at recall
    # 1/2, 1/2, 1; made monotone it is 1 up to recall 1/2 and 2/3 beyond: 51 of the 101 recall
    # levels (0 to 0.5) at 1 and 50 at 2/3.
    truth = [scene([CAR, [0.2, 0.2, 0.2, 0.2]], [1, 1])]
    found = [scene([CAR, [0.8, 0.8, 0.1, 0.1], [0.2, 0.2, 0.2, 0.2]], [1, 1, 1], [0.9, 0.8, 0.7])]
    expected = (51 * 1.0 + 50 * 2 / 3) / 101
    assert average_precision(found, truth, 1) == pytest.approx(expected, abs=1e-12)
    recall, precision, scores = precision_recall_curve(found, truth, 1)
    np.testing.assert_allclose(recall, [0.5, 0.5, 1.0])
    np.testing.assert_allclose(precision, [1.0, 0.5, 2 / 3])
    np.testing.assert_array_equal(scores, [0.9, 0.8, 0.7])


def test_a_duplicate_is_a_false_positive_and_a_wrong_class_finds_nothing():
    truth = [scene([CAR], [1])]
    duplicate = [scene([CAR, CAR], [1, 1], [0.9, 0.8])]
    assert average_precision(duplicate, truth, 1) == pytest.approx(1.0)  # the miss comes after
    wrong_class = [scene([CAR], [2], [0.9])]
    assert mean_average_precision(wrong_class, truth) == 0.0  # car AP 0; class 2 is not present


def test_only_classes_present_in_the_truth_count():
    truth = [scene([CAR], [1]), scene([], [])]
    found = [scene([CAR], [1], [0.9]), scene([PEDESTRIAN], [0], [0.99])]
    assert mean_average_precision(found, truth) == pytest.approx(1.0)
    assert np.isnan(average_precision(found, truth, 0))
    assert np.isnan(mean_average_precision([scene([], [], [])], [scene([], [])]))


def test_strictness_grows_with_the_iou_threshold():
    shifted = [CAR[0] + 0.03, *CAR[1:]]  # IoU (0.37 / 0.43) = 0.86 with the car
    truth = [scene([CAR], [1])]
    found = [scene([shifted], [1], [0.9])]
    assert mean_average_precision(found, truth, 0.85) == pytest.approx(1.0)
    assert mean_average_precision(found, truth, 0.9) == 0.0
    assert mean_average_precision(found, truth, COCO_THRESHOLDS) == pytest.approx(0.8)


def test_bad_arguments():
    with pytest.raises(ValueError, match="same number of images"):
        mean_average_precision([], [scene([], [])])
    with pytest.raises(TypeError, match="must be a dict"):
        mean_average_precision([scene([CAR], [1])], [scene([CAR], [1])])  # no scores
    with pytest.raises(ValueError, match="iou_thresholds must be a number in"):
        mean_average_precision([scene([], [], [])], [scene([], [])], 1.5)


def good_lists():
    truth = [scene([CAR], [1]), scene([PEDESTRIAN, CAR], [0, 2])]
    found = [scene([CAR], [1], [0.9]), scene([PEDESTRIAN], [0], [0.8])]
    return found, truth


def spoil(lists, index, **changes):
    return [dict(item, **changes) if n == index else item for n, item in enumerate(lists)]


MALFORMED = [
    # boxes (4, 5) once became 5 boxes by reshape(-1, 4), and (2, 6) 3 boxes
    (
        dict(boxes=np.full((4, 5), 0.3), labels=[0] * 5, scores=[1] * 5),
        ValueError,
        r"\['boxes'\] must have shape \(M, 4\)",
    ),
    (
        dict(boxes=np.full((2, 6), 0.3), labels=[0] * 3, scores=[1] * 3),
        ValueError,
        r"\['boxes'\] must have shape \(M, 4\)",
    ),
    (
        dict(boxes=np.full(8, 0.3), labels=[0] * 2, scores=[1] * 2),
        ValueError,
        r"\['boxes'\] must have shape \(M, 4\)",
    ),
    (
        dict(boxes=[["a"] * 4], labels=[0], scores=[1]),
        TypeError,
        r"\['boxes'\] must be an array of numbers",
    ),
    (
        dict(boxes=np.ones((1, 4), bool), labels=[0], scores=[1]),
        TypeError,
        r"\['boxes'\] must be an array of numbers",
    ),
    (
        dict(boxes=[[np.nan, 0.5, 0.1, 0.1]], labels=[0], scores=[1]),
        ValueError,
        r"\['boxes'\] must be finite",
    ),
    (dict(boxes=[CAR], labels=[0], scores=[np.nan]), ValueError, r"\['scores'\] must be finite"),
    (dict(boxes=[CAR], labels=[0], scores=[np.inf]), ValueError, r"\['scores'\] must be finite"),
    (
        dict(boxes=[CAR], labels=[0], scores=["high"]),
        TypeError,
        r"\['scores'\] must be an array of numbers",
    ),
    (
        dict(boxes=[CAR], labels=[0], scores=[0.9, 0.8]),
        ValueError,
        r"\['scores'\] must have shape \(1,\)",
    ),
    (
        dict(boxes=[[32.0, 32.0, 12.8, 9.6]], labels=[0], scores=[1]),
        ValueError,
        r"\['boxes'\] midpoints must lie in \[0, 1\], as fractions.*\(in pixels\?",
    ),
    (
        dict(boxes=[[0.5, 0.5, -0.1, 0.2]], labels=[0], scores=[1]),
        ValueError,
        r"\['boxes'\] must have b_h, b_w >= 0",
    ),
    (dict(boxes=[CAR], labels=[0.0], scores=[1]), TypeError, r"\['labels'\] must be integers"),
    (dict(boxes=[CAR], labels=["car"], scores=[1]), TypeError, r"\['labels'\] must be integers"),
    (dict(boxes=[CAR], labels=[True], scores=[1]), TypeError, r"\['labels'\] must be integers"),
    (dict(boxes=[CAR], labels=[-1], scores=[1]), ValueError, r"\['labels'\] must lie >= 0"),
    (
        dict(boxes=[CAR], labels=[0, 1], scores=[1]),
        ValueError,
        r"\['labels'\] must have shape \(1,\)",
    ),
]


@pytest.mark.parametrize("changes, error, message", MALFORMED)
@pytest.mark.parametrize(
    "function", [mean_average_precision, average_precision, precision_recall_curve]
)
def test_malformed_detections_are_refused_naming_the_image(changes, error, message, function):
    found, truth = good_lists()
    arguments = () if function is mean_average_precision else (1,)
    with pytest.raises(error, match=r"^detections\[1\]" + message):
        function(spoil(found, 1, **changes), truth, *arguments)


@pytest.mark.parametrize(
    "changes, error, message", [case for case in MALFORMED if "scores" not in case[2]]
)
def test_malformed_truth_is_refused_by_the_same_check(changes, error, message):
    found, truth = good_lists()
    changes = {key: value for key, value in changes.items() if key != "scores"}  # truth has none
    with pytest.raises(error, match=r"^truth\[1\]" + message):
        mean_average_precision(found, spoil(truth, 1, **changes))


@given(st.integers(0, 2**32 - 1), st.data())
def test_one_spoiled_image_anywhere_is_named(seed, data):
    found, truth = random_problem(seed)
    index = data.draw(st.integers(0, len(found) - 1))
    changes, error, message = data.draw(st.sampled_from(MALFORMED))
    with pytest.raises(error, match=rf"^detections\[{index}\]" + message):
        mean_average_precision(spoil(found, index, **changes), truth)


def test_swapped_detections_and_truth_get_a_hint():
    found, truth = good_lists()
    with pytest.raises(TypeError, match=r"detections\[0\] must be a dict.*is it the truth\?"):
        mean_average_precision(truth, found)


def test_truth_boxes_must_be_objects_in_the_image():
    found, truth = good_lists()
    with pytest.raises(ValueError, match=r"truth\[0\]\['boxes'\] sizes \(b_h, b_w\) must be > 0"):
        mean_average_precision(found, spoil(truth, 0, boxes=[[0.5, 0.5, 0.0, 0.2]]))
    with pytest.raises(ValueError, match=r"truth\[0\]\['boxes'\] midpoints must lie in \[0, 1\]"):
        mean_average_precision(found, spoil(truth, 0, boxes=[[32.0, 32.0, 10.0, 10.0]]))


def test_plain_empty_lists_mean_no_boxes():
    found, truth = good_lists()
    empty_found = {"boxes": [], "labels": [], "scores": []}
    empty_truth = {"boxes": [], "labels": []}
    assert mean_average_precision(found + [empty_found], truth + [empty_truth]) == pytest.approx(
        mean_average_precision(found, truth)
    )
    assert np.isnan(mean_average_precision([empty_found], [empty_truth]))


@pytest.mark.parametrize(
    "iou_thresholds, error, message",
    [
        (True, TypeError, "iou_thresholds must be a real number, got True"),
        ("0.5", TypeError, "iou_thresholds must be a real number, got '0.5'"),
        ("x", TypeError, "iou_thresholds must be a real number"),
        (None, TypeError, "iou_thresholds must be a real number, got None"),
        (np.nan, ValueError, r"iou_thresholds must be a number in \[0, 1\], got nan"),
        ([], ValueError, "iou_thresholds must hold at least one threshold"),
        ([[0.5]], TypeError, r"iou_thresholds\[0\] must be a real number"),
        (np.array([[0.5]]), ValueError, r"iou_thresholds must be a number or a flat sequence"),
        ([0.5, True], TypeError, r"iou_thresholds\[1\] must be a real number, got True"),
        ([0.5, 1.5], ValueError, r"iou_thresholds\[1\] must be a number in \[0, 1\]"),
        (np.array([0.5, np.nan]), ValueError, r"iou_thresholds\[1\] must be a number in"),
    ],
)
def test_iou_thresholds_are_numbers_in_0_1(iou_thresholds, error, message):
    found, truth = good_lists()
    with pytest.raises(error, match=message):
        mean_average_precision(found, truth, iou_thresholds)


def test_iou_thresholds_take_a_number_a_list_or_an_array():
    found, truth = good_lists()
    expected = mean_average_precision(found, truth, 0.5)
    for thresholds in (np.float64(0.5), np.array(0.5), [0.5], (0.5,), np.array([0.5]), 1 / 2):
        assert mean_average_precision(found, truth, thresholds) == expected


@pytest.mark.parametrize("function", [average_precision, precision_recall_curve])
@pytest.mark.parametrize(
    "label, num_classes, error, message",
    [
        ("pedestrian", None, TypeError, "label must be a non-negative integer, got 'pedestrian'"),
        (1.5, None, TypeError, "label must be a non-negative integer, got 1.5"),
        (True, None, TypeError, "label must be a non-negative integer, got True"),
        (None, None, TypeError, "label must be a non-negative integer, got None"),
        (-1, None, ValueError, "label must be a non-negative integer, got -1"),
        (3, 3, ValueError, r"label must lie in 0..2, got 3"),
        (1, 0, ValueError, "num_classes must be a positive integer"),
        (1, 2.0, TypeError, "num_classes must be a positive integer"),
    ],
)
def test_label_must_be_a_class_index(function, label, num_classes, error, message):
    found, truth = good_lists()
    with pytest.raises(error, match=message):
        function(found, truth, label, num_classes=num_classes)


def test_a_class_absent_from_both_lists_has_no_precision_to_measure():
    """nan, as every metric on an empty subset (tinycnn.metrics): a test set without
    motorcycles, on which the detector finds none, has no AP for them, and no error either."""
    found, truth = good_lists()
    for num_classes in (5, None):
        assert np.isnan(average_precision(found, truth, 4, num_classes=num_classes))
        recall, precision, scores = precision_recall_curve(found, truth, 4, num_classes=num_classes)
        assert len(recall) == len(precision) == len(scores) == 0
    # A class with detections but no truth box is nan as before, found without num_classes.
    assert np.isnan(
        average_precision(found + [scene([CAR], [5], [0.7])], truth + [scene([], [])], 5)
    )


def test_num_classes_catches_one_based_labels():
    found, truth = good_lists()
    one_based = [dict(item, labels=item["labels"] + 1) for item in truth]
    assert mean_average_precision(found, one_based) < 1  # nothing here can tell
    with pytest.raises(ValueError, match=r"truth\[1\]\['labels'\] must lie in 0..2, got \[1, 3\]"):
        mean_average_precision(found, one_based, num_classes=3)


# --- pycocotools as the oracle ---------------------------------------------------------------


def random_problem(seed):
    """Detections and truth for a few images: detections near the truth boxes (jittered, so that
    IoU covers the whole range), duplicates, wrong classes and strays, sometimes tied scores."""
    rng = np.random.default_rng(seed)
    num_images = rng.integers(1, 7)
    truth, found = [], []
    for _ in range(num_images):
        count = rng.integers(0, 5)
        centres = rng.uniform(0.15, 0.85, (count, 2))
        sizes = rng.uniform(0.05, 0.3, (count, 2))
        boxes = np.concatenate([centres, sizes], axis=1)
        labels = rng.integers(0, 3, count)
        truth.append(scene(boxes, labels))
        guesses, guess_labels = [], []
        for g in range(count):
            for _ in range(rng.integers(0, 3)):
                jitter = rng.normal(0, rng.choice([0.003, 0.02, 0.06]), 4) * [1, 1, 0.5, 0.5]
                # Still a box in the image, as detect gives: midpoint inside, size >= 0.
                guesses.append(np.clip(boxes[g] + jitter, 0.0, [1.0, 1.0, np.inf, np.inf]))
                guess_labels.append(labels[g] if rng.random() < 0.85 else rng.integers(0, 3))
        strays = rng.integers(0, 3)
        guesses += [
            np.concatenate([rng.uniform(0.2, 0.8, 2), rng.uniform(0.05, 0.3, 2)])
            for _ in range(strays)
        ]
        guess_labels += list(rng.integers(0, 3, strays))
        guesses = np.array(guesses).reshape(-1, 4)
        guesses[:, 2:] = np.abs(guesses[:, 2:]) + 0.01
        scores = (
            rng.choice([0.3, 0.5, 0.9], len(guesses))
            if rng.random() < 0.3
            else rng.uniform(0, 1, len(guesses))
        )
        found.append(scene(guesses, np.array(guess_labels, dtype=np.int64), scores))
    return found, truth


def coco_stats(found, truth, size=100.0):
    """pycocotools' COCOeval on the same boxes (in pixels of a size x size image): stats[0..1]."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def xywh(boxes):
        corners = center_to_corners(boxes) * size
        return np.concatenate([corners[:, :2], corners[:, 2:] - corners[:, :2]], axis=1)

    dataset = {
        "images": [],
        "annotations": [],
        "categories": [{"id": label + 1, "name": str(label)} for label in range(3)],
    }
    results = []
    for index, (found_scene, truth_scene) in enumerate(zip(found, truth, strict=True)):
        dataset["images"].append({"id": index + 1, "width": size, "height": size})
        for box, label in zip(xywh(truth_scene["boxes"]), truth_scene["labels"], strict=True):
            dataset["annotations"].append(
                {
                    "id": len(dataset["annotations"]) + 1,
                    "image_id": index + 1,
                    "category_id": int(label) + 1,
                    "bbox": box.tolist(),
                    "area": box[2] * box[3],
                    "iscrowd": 0,
                }
            )
        for box, label, score in zip(
            xywh(found_scene["boxes"]), found_scene["labels"], found_scene["scores"], strict=True
        ):
            results.append(
                {
                    "image_id": index + 1,
                    "category_id": int(label) + 1,
                    "bbox": box.tolist(),
                    "score": float(score),
                }
            )
    ground_truth = COCO()
    ground_truth.dataset = dataset
    ground_truth.createIndex()
    evaluation = COCOeval(ground_truth, ground_truth.loadRes(results), "bbox")
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    return evaluation.stats


@settings(max_examples=60)
@given(st.integers(0, 2**32 - 1).map(random_problem))
def test_equals_pycocotools(problem):
    pytest.importorskip("pycocotools")
    found, truth = problem
    if not any(len(s["labels"]) for s in found) or not any(len(s["labels"]) for s in truth):
        return  # COCOeval needs at least one box on each side
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        stats = coco_stats(found, truth)
    assert 0 <= stats[1] <= 1
    assert mean_average_precision(found, truth, 0.5) == pytest.approx(stats[1], abs=1e-12)
    assert mean_average_precision(found, truth, COCO_THRESHOLDS) == pytest.approx(
        stats[0], abs=1e-12
    )


def test_the_oracle_comparison_sees_a_range_of_scores():
    pytest.importorskip("pycocotools")
    import contextlib
    import io

    values = []
    for seed in range(8):
        found, truth = random_problem(seed)
        with contextlib.redirect_stdout(io.StringIO()):
            values.append(coco_stats(found, truth)[0])
        assert mean_average_precision(found, truth, COCO_THRESHOLDS) == pytest.approx(
            values[-1], abs=1e-12
        )
    assert max(values) < 0.95 and np.ptp(values) > 0.1  # neither trivial nor all alike
