"""The projection / drift split of the protocol's error on hand-made pairs with known answers."""

import numpy as np

from catlas.evaluate import split_pair_error


def _line(xs) -> np.ndarray:
    return np.array([[x, 0.0, 0.0] for x in xs])


def test_perfect_atlas_has_no_error():
    gt_a = _line([0, 1, 3, 6])
    gt_b = gt_a * 2 + 5
    s = split_pair_error(gt_a, gt_b, gt_a.copy(), gt_b.copy())
    for v in (s.total, s.projection, s.drift):
        np.testing.assert_allclose(v, 0.0)


def test_pure_drift_is_the_permutation_distance():
    # sample i stands for vertex i in A but for vertex perm[i] in B
    gt_a = _line([0, 1, 3, 6])
    gt_b = _line([0, 2, 6, 12])
    perm = np.array([1, 0, 2, 3])
    s = split_pair_error(gt_a, gt_b, gt_a.copy(), gt_b[perm])
    np.testing.assert_allclose(s.projection, 0.0)
    np.testing.assert_allclose(s.drift, [2.0, 2.0, 0.0, 0.0])
    np.testing.assert_allclose(s.total, s.drift)


def test_pure_projection_is_carried_to_frame_b():
    # no sample at vertex 1 (x = 1): it snaps to the sample of vertex 0 (distance 1 in A), which
    # stands for vertex 0 in B too, 2 away from vertex 1 there (B is A stretched by 2)
    gt_a = _line([0, 1, 3, 6])
    gt_b = gt_a * 2
    keep = [0, 2, 3]
    s = split_pair_error(gt_a, gt_b, gt_a[keep], gt_b[keep])
    np.testing.assert_allclose(s.projection, [0.0, 2.0, 0.0, 0.0])
    np.testing.assert_allclose(s.drift, 0.0)
    np.testing.assert_allclose(s.total, s.projection)


def test_total_bounded_by_the_parts_on_random_pairs():
    rng = np.random.default_rng(0)
    gt_a, gt_b = rng.random((50, 3)), rng.random((50, 3))
    y_a, y_b = rng.random((80, 3)), rng.random((80, 3))
    s = split_pair_error(gt_a, gt_b, y_a, y_b)
    assert np.all(s.total <= s.projection + s.drift + 1e-12)
    assert s.total.mean() > 0 and s.drift.mean() > 0
