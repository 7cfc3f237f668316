"""Norms against integrals known in closed form."""

import numpy as np
import pytest

from fem.assembly import assemble_mass, assemble_stiffness
from fem.element import function_space, interpolate
from fem.mesh import interval, l_shape, unit_square
from fem.norms import (
    energy_error,
    energy_norm,
    fitted_rate,
    h1_error,
    l2_error,
    l2_norm,
    observed_rates,
    refinement_study,
    residual_norm,
)
from fem.problems import solve_stationary


def test_l2_norm_of_interpolated_quadratic_is_exact_for_p2():
    space = function_space(unit_square(3), 2)
    u_h = interpolate(space, lambda x, y: x * y)
    assert l2_norm(space, u_h) == pytest.approx(1 / 3, rel=1e-14)  # int x^2 y^2 = 1/9


def test_errors_of_zero_function_are_norms_of_the_exact_solution():
    space = function_space(l_shape(2), 1)
    zero = np.zeros(space.num_dofs)
    # on the L-shape (area 3): int 1 = 3, int |grad(x + 2y)|^2 = 5 * 3
    assert l2_error(space, zero, 1.0) == pytest.approx(np.sqrt(3.0), rel=1e-14)
    assert h1_error(space, zero, (1.0, 2.0)) == pytest.approx(np.sqrt(15.0), rel=1e-14)
    assert energy_error(space, zero, (1.0, 2.0), kappa=2.0) == pytest.approx(np.sqrt(30.0))


def test_norms_agree_with_matrix_forms():
    space = function_space(unit_square(4), 2)
    rng = np.random.default_rng(0)
    u = rng.standard_normal(space.num_dofs)
    mass = assemble_mass(space)
    stiffness = assemble_stiffness(space)
    assert l2_norm(space, u) == pytest.approx(np.sqrt(u @ mass @ u), rel=1e-12)
    assert h1_error(space, -u, (0.0, 0.0)) == pytest.approx(energy_norm(stiffness, u), rel=1e-12)
    assert energy_error(space, -u, (0.0, 0.0), reaction=3.0, exact=0.0) == pytest.approx(
        np.sqrt(u @ stiffness @ u + 3 * u @ mass @ u), rel=1e-12)


def test_h1_error_of_p1_interpolant_in_1d():
    # |x^2 - I_h x^2|_{H^1}^2 = sum over cells of h^3 / 3 for the P1 interpolant
    n = 5
    space = function_space(interval(0.0, 1.0, n), 1)
    u_h = interpolate(space, lambda x: x**2)
    assert h1_error(space, u_h, lambda x: 2 * x) == pytest.approx(np.sqrt(n * (1 / n) ** 3 / 3))
    # and the L2 error: int (x^2 - I_h x^2)^2 = n h^5 / 30
    assert l2_error(space, u_h, lambda x: x**2) == pytest.approx(np.sqrt(n * (1 / n) ** 5 / 30))


def test_residual_norm_of_the_exact_discrete_solution_and_of_a_perturbation():
    space = function_space(unit_square(4), 1)
    solution = solve_stationary(space, f=1.0, rtol=1e-13)
    assert residual_norm(solution.system, solution.u) < 1e-12
    perturbed = solution.u.copy()
    free = solution.system.free_dofs[3]
    perturbed[free] += 1.0
    column = solution.system.matrix[:, [free]].toarray().ravel()[solution.system.free_dofs]
    assert residual_norm(solution.system, perturbed) == pytest.approx(
        np.linalg.norm(column), rel=1e-9)


def test_observed_rates_and_study_validation():
    assert np.allclose(observed_rates([1.0, 0.5, 0.25], [8.0, 1.0, 0.125]), [3.0, 3.0])
    with pytest.raises(ValueError, match="levels"):
        refinement_study(unit_square(2), 1, lambda space: None, levels=0, exact=0.0)
    with pytest.raises(ValueError, match="exact"):
        refinement_study(unit_square(2), 1, lambda space: None)


def test_bad_vectors_and_coefficients():
    space = function_space(unit_square(2), 1)
    with pytest.raises(ValueError, match="u_h must have shape"):
        l2_norm(space, np.zeros(3))
    with pytest.raises(ValueError, match="NaN"):
        l2_norm(space, np.full(space.num_dofs, np.nan))
    with pytest.raises(ValueError, match="exact_gradient' must return a tuple of 2"):
        h1_error(space, np.zeros(space.num_dofs), lambda x, y: x)
    with pytest.raises(ValueError, match="not positive definite"):
        energy_norm(-np.eye(2), np.ones(2))


def test_fitted_rate_is_the_least_squares_slope():
    """Errors C h^p with a multiplicative wobble: the fit recovers p, pairwise rates scatter."""
    h = 0.5 ** np.arange(1, 7)
    wobble = np.array([1.0, 1.3, 0.8, 1.2, 0.9, 1.1])
    errors = 3.0 * h**2 * wobble
    slope, _ = np.polyfit(np.log(h), np.log(errors), 1)
    assert fitted_rate(h, errors) == pytest.approx(slope, rel=1e-12)
    assert abs(fitted_rate(h, errors) - 2.0) < 0.1
    assert np.ptp(observed_rates(h, errors)) > 0.5
    # a zero error (an exactly reproduced solution) is left out, not a -inf in the fit
    assert fitted_rate([0.5, 0.25, 0.125], [1.0, 0.25, 0.0]) == pytest.approx(2.0)
    assert np.isnan(fitted_rate([0.5], [1.0]))
    assert np.isnan(observed_rates([0.5, 0.25], [1.0, 0.0])[0])


def test_study_reports_each_level_and_the_iterations():
    seen = []
    study = refinement_study(
        interval(0.0, 1.0, 4), 2,
        lambda space: solve_stationary(space, f=lambda x: np.pi**2 * np.sin(np.pi * x),
                                       rtol=1e-12),
        levels=3, exact=lambda x: np.sin(np.pi * x),
        exact_gradient=lambda x: np.pi * np.cos(np.pi * x), callback=seen.append)
    assert [len(partial.h) for partial in seen] == [1, 2, 3]
    assert seen[-1] is study
    assert study.iterations.tolist() == [result.result.iterations for result in study.results]
    assert abs(study.fitted_rates["l2"] - 3.0) < 0.15
    assert abs(study.fitted_rates["h1"] - 2.0) < 0.15
