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
                guesses.append(boxes[g] + jitter)
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
