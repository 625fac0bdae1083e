"""fastnet.metrics: accuracy, top-k accuracy, MAE and the confusion matrix against loop references."""

import numpy as np
import pytest

from fastnet import metrics
from fastnet.metrics import TopKAccuracy, accuracy, confusion_matrix, mean_absolute_error, top_k_accuracy


def scores_and_labels(n=50, c=6, seed=0, ties=False):
    g = np.random.default_rng(seed)
    scores = g.standard_normal((n, c))
    if ties:
        scores = np.round(scores)  # many ties
    return scores, g.integers(0, c, n)


def loop_top_k(labels, scores, k):
    """Correct when fewer than k classes score strictly higher than the true class."""
    correct = 0
    for row, label in zip(scores, labels):
        true_score = row[label]
        if np.isnan(true_score):
            continue
        higher = sum(1 for s in row if s > true_score)
        correct += higher < k
    return correct / len(labels)


def test_accuracy_matches_a_loop():
    scores, labels = scores_and_labels()
    expected = np.mean([int(np.argmax(row) == label) for row, label in zip(scores, labels)])
    assert accuracy(labels, scores) == expected
    assert accuracy(labels, np.argmax(scores, 1)) == expected  # class indices as predictions
    assert accuracy(np.eye(6)[labels], scores) == expected  # one-hot truth
    assert accuracy(labels, scores.astype(np.float32)) == expected


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("k", [1, 2, 5, 6])
def test_top_k_accuracy_matches_a_loop(k, ties):
    scores, labels = scores_and_labels(seed=k, ties=ties)
    assert top_k_accuracy(labels, scores, k) == pytest.approx(loop_top_k(labels, scores, k), abs=0)
    assert TopKAccuracy(k).name == f"top_{k}_accuracy"


def test_top_k_accuracy_edge_cases():
    scores, labels = scores_and_labels(ties=False)
    assert top_k_accuracy(labels, scores, 1) == accuracy(labels, scores)  # no ties: top-1 is accuracy
    assert top_k_accuracy(labels, scores, 6) == 1.0
    scores[0, labels[0]] = np.nan  # a NaN true score counts as wrong
    assert top_k_accuracy(labels, scores, 6) == pytest.approx(49 / 50)
    with pytest.raises(ValueError, match="k: expected a positive int"):
        TopKAccuracy(0)
    with pytest.raises(ValueError, match="scores of shape"):
        top_k_accuracy(labels, labels, 2)


def test_top_k_against_torch():
    torch = pytest.importorskip("torch")
    scores, labels = scores_and_labels(n=200, c=10, seed=3)
    top = torch.topk(torch.from_numpy(scores), 3, dim=1).indices.numpy()
    expected = np.mean([label in row for row, label in zip(top, labels)])
    assert top_k_accuracy(labels, scores, 3) == pytest.approx(expected, abs=0)


def test_mean_absolute_error():
    g = np.random.default_rng(1)
    a, b = g.standard_normal((7, 3)), g.standard_normal((7, 3))
    assert mean_absolute_error(a, b) == pytest.approx(np.mean(np.abs(a - b)), rel=1e-15)
    assert metrics.mae is mean_absolute_error
    with pytest.raises(ValueError, match="shape"):
        mean_absolute_error(a, b[:, :2])


def test_confusion_matrix_matches_a_loop():
    scores, labels = scores_and_labels(n=80, c=4, seed=2)
    pred = np.argmax(scores, 1)
    expected = np.zeros((4, 4), np.int64)
    for t, p in zip(labels, pred):
        expected[t, p] += 1
    m = confusion_matrix(labels, pred, num_classes=4)
    np.testing.assert_array_equal(m, expected)
    assert m.dtype == np.int64 and m.sum() == 80
    np.testing.assert_array_equal(confusion_matrix(labels, scores), expected)  # scores: argmax, C from the shape
    assert confusion_matrix(np.array([0, 2]), np.array([0, 0])).shape == (3, 3)  # C from the largest label
    np.testing.assert_array_equal(confusion_matrix(np.array([1]), np.array([1]), num_classes=5)[1], [0, 1, 0, 0, 0])
    assert np.trace(m) / m.sum() == accuracy(labels, scores)


def test_confusion_matrix_errors():
    with pytest.raises(ValueError, match="class 3 at index 1 is not below num_classes=3"):
        confusion_matrix(np.array([0, 3]), np.array([0, 1]), num_classes=3)
    with pytest.raises(ValueError, match="non-negative"):
        confusion_matrix(np.array([0, -1]), np.array([0, 1]))
    with pytest.raises(TypeError, match="class indices.*y.argmax\\(1\\)"):
        confusion_matrix(np.eye(3), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="samples"):
        confusion_matrix(np.array([0, 1]), np.array([0]))


def test_metric_sums_add_up_over_batches():
    scores, labels = scores_and_labels(n=50, c=6, seed=5)
    for metric in (metrics.Accuracy(), TopKAccuracy(3)):
        total = sum(metric.sum(labels[i:i + 16], scores[i:i + 16]) for i in range(0, 50, 16))
        assert total / 50 == pytest.approx(metric(labels, scores), abs=1e-15)
    a, b = np.random.default_rng(0).standard_normal((2, 50, 3))
    mae = metrics.MeanAbsoluteError()
    total = sum(mae.sum(a[i:i + 16], b[i:i + 16]) for i in range(0, 50, 16))
    assert total / 50 == pytest.approx(mae(a, b), rel=1e-12)


def test_get():
    assert isinstance(metrics.get("accuracy"), metrics.Accuracy)
    assert isinstance(metrics.get("acc"), metrics.Accuracy)
    assert metrics.get("top_7_accuracy").k == 7
    assert metrics.get("mae").name == "mae"
    assert metrics.get(metrics.Accuracy).name == "accuracy"
    k3 = TopKAccuracy(3)
    assert metrics.get(k3) is k3

    def zero_one(y_true, y_pred):
        return 0.5

    custom = metrics.get(zero_one)
    assert custom.name == "zero_one" and custom.sum(np.zeros(4), np.zeros(4)) == 2.0
    with pytest.raises(ValueError, match="unknown metric 'f1'"):
        metrics.get("f1")
    with pytest.raises(TypeError, match="metrics"):
        metrics.get(3)
