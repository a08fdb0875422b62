"""A CasADi function through its evaluation buffer gives the plain call's numbers, bit for bit."""

import casadi
import numpy as np

from agingset.physics.buffered import BufferedFunction


def _function():
    t, y, p, empty = casadi.MX.sym("t"), casadi.MX.sym("y", 3), casadi.MX.sym("p", 2), casadi.MX.sym("e", 0)
    # a structural zero in the output (a sparse column) and an argument of size zero
    out = casadi.vertcat(casadi.exp(-t * y[0]) * p[0], casadi.MX(1, 1), casadi.sin(y[2]) / p[1])
    return casadi.Function("f", [t, y, p, empty], [out])


def test_buffered_call_matches_the_plain_call_bit_for_bit_and_keeps_no_state():
    function = _function()
    assert not function.sparsity_out(0).is_dense()
    buffered = BufferedFunction(function)
    rng = np.random.default_rng(0)
    for _ in range(5):
        t, y, p = rng.random(), rng.random((3, 1)), rng.random(2) + 0.5
        plain = np.asarray(function(t, y, p, np.zeros(0)).full()).reshape(-1)
        result = buffered(t, y, p, np.zeros(0))
        np.testing.assert_array_equal(result, plain)
        assert result.shape == (3,) and result[1] == 0.0
    first = buffered(0.1, np.ones(3), np.ones(2), np.zeros(0))
    expected = first.copy()
    buffered(0.7, np.zeros(3), np.ones(2), np.zeros(0))
    np.testing.assert_array_equal(first, expected)  # a returned array is a copy, not the buffer


def test_a_function_with_a_sparse_argument_is_called_the_usual_way():
    x = casadi.MX.sym("x", casadi.Sparsity.diag(2))
    function = casadi.Function("g", [x], [casadi.sum1(casadi.sum2(x))])
    assert BufferedFunction(function)(casadi.DM(casadi.Sparsity.diag(2), [1.0, 2.0]))[0] == 3.0


def test_a_sparse_jacobian_comes_back_as_the_plain_calls_dense_matrix():
    y, p = casadi.MX.sym("y", 4), casadi.MX.sym("p", 2)
    rhs = casadi.vertcat(y[0] * y[1], p[0] * casadi.exp(y[2]), y[3] - p[1] * y[0], casadi.MX(1, 1))
    function = casadi.Function("jacobian_of_rhs", [y, p], [casadi.jacobian(rhs, y)])
    assert not function.sparsity_out(0).is_dense()
    state, inputs = np.array([0.3, -1.2, 0.5, 2.0]), np.array([1.5, 0.25])
    plain = np.asarray(function(state, inputs).full())
    result = BufferedFunction(function)(state, inputs)
    assert result.shape == (4, 4)
    np.testing.assert_array_equal(result, plain)
