"""The batched Levenberg-Marquardt solver finds each problem's own bounded optimum."""

import numpy as np
import pytest
from scipy.optimize import least_squares, lsq_linear

from agingset.batch_lm import least_squares_batch


def _linear_problems(seed: int, count: int = 6, points: int = 10, parameters: int = 3):
    rng = np.random.default_rng(seed)
    matrices = rng.normal(size=(count, points, parameters))
    targets = rng.normal(size=(count, points)) * 3
    lower = np.full((count, parameters), -0.5)
    upper = np.full((count, parameters), 0.5)
    lower[::2] = -10.0  # half the problems have their free optimum inside the box
    upper[::2] = 10.0

    def residuals(x, rows):
        return np.einsum("kmp,kp->km", matrices[rows], x) - targets[rows], matrices[rows].copy()

    return matrices, targets, lower, upper, residuals


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bounded_linear_problems_reach_scipy_s_optimum(seed):
    matrices, targets, lower, upper, residuals = _linear_problems(seed)
    result = least_squares_batch(residuals, np.zeros_like(lower), lower, upper, ftol=1e-12, xtol=1e-12)
    assert result.success.all()
    for k in range(len(matrices)):
        expected = lsq_linear(matrices[k], targets[k], bounds=(lower[k], upper[k]), tol=1e-12).x
        assert result.x[k] == pytest.approx(expected, abs=1e-6)
        assert np.all(result.x[k] >= lower[k]) and np.all(result.x[k] <= upper[k])
    # the boxed half sits on a bound, as the bounded optimum does
    assert np.any(np.isclose(result.x[1::2], 0.5) | np.isclose(result.x[1::2], -0.5))


def test_a_nonlinear_problem_matches_scipy_and_a_bad_start_fails_alone():
    # Exponential decay fits y = a exp(-b t): one well-posed problem, one whose start is not finite.
    t = np.linspace(0, 4, 20)
    y = 2.0 * np.exp(-0.7 * t)

    def residuals(x, rows):
        a, b = x[:, :1], x[:, 1:]
        model = a * np.exp(-b * t)
        jacobian = np.stack([np.exp(-b * t), -a * t * np.exp(-b * t)], axis=-1)
        return model - y, jacobian

    start = np.array([[1.0, 0.1], [np.inf, 0.1]])
    lower, upper = np.full((2, 2), -100.0), np.full((2, 2), 100.0)
    with np.errstate(invalid="ignore"):  # inf x 0 in the bad start's Jacobian
        result = least_squares_batch(residuals, start, lower, upper)
    reference = least_squares(lambda x: residuals(x[None], None)[0][0], start[0]).x
    assert result.success.tolist() == [True, False]
    assert result.x[0] == pytest.approx(reference, rel=1e-6)
    assert result.x[0] == pytest.approx([2.0, 0.7], rel=1e-6)
    assert result.evaluations[1] == 1
