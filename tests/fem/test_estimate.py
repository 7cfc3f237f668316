"""The residual estimator: hand-computed values, effectivity, and adaptive convergence rates."""

import numpy as np
import pytest

from fem.element import function_space, interpolate
from fem.estimate import dorfler_marking, mark, maximum_marking, residual_estimate
from fem.mesh import interval, l_shape, unit_square
from fem.norms import fitted_rate, h1_error
from fem.problems import solve_stationary
from fem.refine import bisect, longest_edge_first

PI = np.pi


# --------------------------------------------------------------------------------------
# Values computed by hand


def two_triangles():
    """unit_square(1): cells (0,0),(1,0),(1,1) and (0,0),(1,1),(0,1); u_h = y on the first
    and x on the second (the DOF vector [0, 0, 0, 1])."""
    space = function_space(unit_square(1), 1)
    return space, np.array([0.0, 0.0, 0.0, 1.0])


def test_flux_jump_across_the_diagonal():
    # outward fluxes (0,1).(-1,1)/sqrt2 and (1,0).(1,-1)/sqrt2 add up to a jump sqrt2 on an
    # edge of length sqrt2: h_E ||J||^2 = sqrt2 * 2 * sqrt2 = 4, half to each cell
    space, u = two_triangles()
    estimate = residual_estimate(space, u)
    assert estimate.indicators.tolist() == pytest.approx([2.0, 2.0], rel=1e-14)
    assert estimate.cell_residuals.tolist() == [0.0, 0.0]
    assert estimate.total == pytest.approx(2.0, rel=1e-14)


def test_natural_and_neumann_boundaries_add_their_flux_residuals():
    space, u = two_triangles()
    # no Dirichlet part: the bottom and left sides carry the flux -1 (h_E = 1, |E| = 1)
    natural = residual_estimate(space, u, dirichlet={})
    assert natural.indicators.tolist() == pytest.approx([3.0, 3.0], rel=1e-14)
    # Neumann data equal to the flux leave no residual there; other data leave g - flux
    mesh = space.mesh.with_boundary("bottom_left", lambda x, y: (x < 1e-12) | (y < 1e-12))
    space = function_space(mesh, 1)
    matched = residual_estimate(space, u, dirichlet={}, neumann={"bottom_left": -1.0})
    assert matched.indicators.tolist() == pytest.approx([2.0, 2.0], rel=1e-14)
    robin = residual_estimate(space, u, dirichlet={}, robin={"bottom_left": (2.0, 1.0)})
    # u_h = 0 on the bottom and left sides, so g - alpha u_h - flux = 1 + 1 = 2
    assert robin.indicators.tolist() == pytest.approx([6.0, 6.0], rel=1e-14)


def test_cell_residual_of_a_known_function():
    # u_h = x on [0, 1] with two cells, -u'' + u = f with f = 0: residual -x, h^2 int x^2
    space = function_space(interval(0.0, 1.0, 2), 1)
    estimate = residual_estimate(space, space.dof_points[:, 0].copy(), reaction=1.0,
                                 dirichlet={"left": 0.0, "right": 1.0})
    assert estimate.cell_residuals.tolist() == pytest.approx(
        [0.25 * (0.5**3 / 3), 0.25 * (1 - 0.5**3) / 3], rel=1e-13)
    assert estimate.facet_residuals.tolist() == [0.0, 0.0]


@pytest.mark.parametrize("degree", [1, 2])
def test_the_discrete_space_solves_its_own_problem_without_residual(degree):
    space = function_space(longest_edge_first(l_shape(2)).refined(np.arange(5)), degree)
    exact = (lambda x, y: 1 + 2 * x - y) if degree == 1 else (lambda x, y: x * x - x * y + y)
    u = interpolate(space, exact)
    f = 0.0 if degree == 1 else -2.0
    estimate = residual_estimate(space, u, f=f, dirichlet={"boundary": exact})
    assert estimate.total < 1e-12


def test_variable_kappa_enters_through_its_gradient():
    # u = x, kappa = 1 + x: -div(kappa grad u) = -1, so f = -1 leaves no cell residual
    space = function_space(unit_square(4), 1)
    u = interpolate(space, lambda x, y: x)
    numerical = residual_estimate(space, u, kappa=lambda x, y: 1 + x, f=-1.0)
    given = residual_estimate(space, u, kappa=lambda x, y: 1 + x, f=-1.0,
                              kappa_gradient=(1.0, 0.0))
    assert given.cell_residuals.max() < 1e-24
    assert numerical.cell_residuals.max() < 1e-16


# --------------------------------------------------------------------------------------
# Reliability and efficiency: the effectivity index eta / |u - u_h|_H1 stays in a band


def sine_problem(dim):
    if dim == 1:
        return ({"f": lambda x: PI**2 * np.sin(PI * x)}, lambda x: PI * np.cos(PI * x))

    def gradient(x, y):
        return (PI * np.cos(PI * x) * np.sin(PI * y), PI * np.sin(PI * x) * np.cos(PI * y))

    return ({"f": lambda x, y: 2 * PI**2 * np.sin(PI * x) * np.sin(PI * y)}, gradient)


def mixed_problem():
    """-div((1 + x) grad u) + (1, 0.5) . grad u + 2 u = f with u = exp(x) sin(2y) + y,
    Dirichlet on the left and bottom, Neumann on the right, Robin on the top."""

    def u(x, y):
        return np.exp(x) * np.sin(2 * y) + y

    def gradient(x, y):
        return (np.exp(x) * np.sin(2 * y), 2 * np.exp(x) * np.cos(2 * y) + 1)

    def f(x, y):
        ux, uy = gradient(x, y)
        laplacian = np.exp(x) * np.sin(2 * y) - 4 * np.exp(x) * np.sin(2 * y)
        return -(1 + x) * laplacian - ux + ux + 0.5 * uy + 2 * u(x, y)

    data = {"kappa": lambda x, y: 1 + x, "velocity": (1.0, 0.5), "reaction": 2.0, "f": f,
            "dirichlet": {"left": u, "bottom": u},
            "neumann": {"right": lambda x, y: (1 + x) * gradient(x, y)[0]},
            "robin": {"top": (3.0, lambda x, y: (1 + x) * gradient(x, y)[1] + 3.0 * u(x, y))}}
    return data, gradient


def effectivities(make_mesh, degree, data, gradient, levels=6):
    ratios = []
    mesh = make_mesh()
    for _ in range(levels):
        space = function_space(mesh, degree)
        solution = solve_stationary(space, rtol=1e-12, **data)
        estimate = residual_estimate(space, solution.u, **data)
        ratios.append(estimate.total / h1_error(space, solution.u, gradient))
        mesh = mesh.refined()
    return np.array(ratios)


@pytest.mark.parametrize("degree", [1, 2])
@pytest.mark.parametrize("case", ["interval", "square", "mixed"])
def test_effectivity_stays_in_a_band_across_six_uniform_levels(case, degree):
    if case == "interval":
        data, gradient = sine_problem(1)
        ratios = effectivities(lambda: interval(0.0, 1.0, 2), degree, data, gradient)
    else:
        data, gradient = sine_problem(2) if case == "square" else mixed_problem()
        # P2 starts one level coarser, so that its six levels stay small
        ratios = effectivities(lambda: unit_square(3 - degree), degree, data, gradient)
    # eta is an upper bound up to a constant and a lower bound up to another: their
    # ratio neither drifts nor degenerates as h goes to zero
    assert ratios.min() > 0.5
    assert ratios.max() / ratios.min() <= 3.0
    assert abs(ratios[-1] / ratios[-2] - 1) < 0.1


def test_wrong_neumann_data_slow_the_estimate_down():
    # the boundary residual g - kappa du_h/dn stays O(1) on the Neumann side, so eta^2
    # keeps a part ~ h there: the estimate falls slower than the error's h^1
    data, _ = mixed_problem()
    sizes, right, wrong = [], [], []
    for n in (8, 16, 32):
        space = function_space(unit_square(n), 1)
        solution = solve_stationary(space, rtol=1e-12, **data)
        sizes.append(1.0 / n)
        right.append(residual_estimate(space, solution.u, **data).total)
        wrong.append(residual_estimate(space, solution.u,
                                       **{**data, "neumann": {"right": 1.0}}).total)
    assert fitted_rate(sizes, right) > 0.95
    assert fitted_rate(sizes, wrong) < 0.85


# --------------------------------------------------------------------------------------
# Adaptive refinement on the L-shape: the optimal rate N^(-p/2) against N^(-1/3) uniformly


def l_shape_solution(x, y):
    return (x * x + y * y) ** (1 / 3) * np.sin(2 / 3 * (np.arctan2(-y, -x) + PI))


def l_shape_gradient(x, y):
    radius = np.sqrt(x * x + y * y)
    angle = np.arctan2(-y, -x) + PI
    radial = 2 / 3 * radius ** (-1 / 3) * np.sin(2 / 3 * angle)
    angular = 2 / 3 * radius ** (-1 / 3) * np.cos(2 / 3 * angle)
    return (radial * np.cos(angle) - angular * np.sin(angle),
            radial * np.sin(angle) + angular * np.cos(angle))


def l_shape_solve(space):
    return solve_stationary(space, dirichlet={"boundary": l_shape_solution}, rtol=1e-11,
                            M="jacobi")


def adaptive_errors(degree, max_dofs):
    mesh = longest_edge_first(l_shape(2))
    dofs, errors = [], []
    while True:
        space = function_space(mesh, degree)
        solution = l_shape_solve(space)
        dofs.append(space.num_dofs)
        errors.append(h1_error(space, solution.u, l_shape_gradient))
        if space.num_dofs > max_dofs:
            return np.array(dofs), np.array(errors)
        estimate = residual_estimate(space, solution.u, dirichlet={"boundary": l_shape_solution})
        mesh = bisect(mesh, dorfler_marking(estimate.indicators, 0.5)).mesh


def uniform_errors(degree, levels):
    dofs, errors = [], []
    mesh = l_shape(2)
    for _ in range(levels):
        space = function_space(mesh, degree)
        dofs.append(space.num_dofs)
        errors.append(h1_error(space, l_shape_solve(space).u, l_shape_gradient))
        mesh = mesh.refined()
    return np.array(dofs), np.array(errors)


def dofs_for_error(dofs, errors, target):
    """Unknowns at which a decreasing error history reaches ``target`` (log-log between)."""
    below = int(np.flatnonzero(errors <= target)[0])
    if below == 0:
        return float(dofs[0])
    t = np.log(errors[below - 1] / target) / np.log(errors[below - 1] / errors[below])
    return float(np.exp(np.log(dofs[below - 1]) + t * np.log(dofs[below] / dofs[below - 1])))


def test_p1_adaptive_rate_is_n_to_the_minus_half_and_uniform_n_to_the_minus_third():
    dofs, errors = adaptive_errors(1, 2_000)
    # an error ~ N^-s is an error ~ h^(2s) in the rates' sense of fitted_rate
    adaptive_slope = -fitted_rate(1 / dofs[-5:], errors[-5:])
    assert adaptive_slope == pytest.approx(-0.5, abs=0.1)
    uniform_dofs, uniform = uniform_errors(1, 5)
    uniform_slope = -fitted_rate(1 / uniform_dofs[-3:], uniform[-3:])
    assert uniform_slope == pytest.approx(-1 / 3, abs=0.05)
    needed = dofs_for_error(dofs, errors, uniform[-1])
    assert uniform_dofs[-1] >= 5 * needed


def test_p2_adaptive_rate_is_n_to_the_minus_one():
    dofs, errors = adaptive_errors(2, 2_500)
    assert -fitted_rate(1 / dofs[-5:], errors[-5:]) == pytest.approx(-1.0, abs=0.1)


# --------------------------------------------------------------------------------------
# Marking


def test_dorfler_marks_the_fewest_cells_holding_the_bulk():
    rng = np.random.default_rng(0)
    indicators = rng.random(200) ** 4
    for theta in (0.1, 0.5, 0.9, 1.0):
        marked = dorfler_marking(indicators, theta)
        assert indicators[marked].sum() >= theta * indicators.sum() * (1 - 1e-12)
        # one cell fewer (the smallest marked) would miss the bulk
        smallest = np.flatnonzero(marked)[np.argmin(indicators[marked])]
        assert indicators[marked].sum() - indicators[smallest] < theta * indicators.sum()
        assert indicators[marked].min() >= indicators[~marked].max(initial=0.0)


def test_maximum_marking_and_the_strategy_names():
    indicators = np.array([0.1, 1.0, 0.5, 0.49])
    assert maximum_marking(indicators, 0.5).tolist() == [False, True, True, False]
    assert mark(indicators, 0.5, "maximum").tolist() == [False, True, True, False]
    assert mark(indicators, 1.0).tolist() == [True, True, True, True]


@pytest.mark.parametrize("theta", [0.0, -0.1, 1.5, float("nan"), "half", True])
def test_theta_outside_zero_one_is_refused(theta):
    with pytest.raises(ValueError, match=r"theta must be a number in \(0, 1\]"):
        dorfler_marking([1.0, 2.0], theta)


def test_bad_indicators_and_data_are_refused():
    with pytest.raises(ValueError, match="non-negative"):
        dorfler_marking([1.0, -2.0])
    with pytest.raises(ValueError, match="marking must be one of"):
        mark([1.0], 0.5, "largest")
    space = function_space(unit_square(2), 1)
    with pytest.raises(ValueError, match=r"u_h must have shape \(9,\)"):
        residual_estimate(space, np.zeros(4))
    with pytest.raises(ValueError, match="unknown boundary name 'side'"):
        residual_estimate(space, np.zeros(9), neumann={"side": 1.0})
    with pytest.raises(ValueError, match="pair"):
        residual_estimate(space, np.zeros(9), dirichlet={}, robin={"left": 1.0})


def test_the_prolongated_coarse_solution_starts_the_next_solve_closer():
    from fem.refine import prolongate

    mesh = longest_edge_first(l_shape(4))
    coarse = function_space(mesh, 1)
    solution = l_shape_solve(coarse)
    estimate = residual_estimate(coarse, solution.u, dirichlet={"boundary": l_shape_solution})
    refinement = bisect(mesh, dorfler_marking(estimate.indicators))
    fine = function_space(refinement.mesh, 1)
    guess = prolongate(coarse, solution.u, fine, refinement.parents)
    cold = l_shape_solve(fine)
    warm = solve_stationary(fine, dirichlet={"boundary": l_shape_solution}, rtol=1e-11,
                            M="jacobi", x0=guess)
    assert warm.result.residual_norms[0] < 0.2 * cold.result.residual_norms[0]
    assert np.allclose(warm.u, cold.u, atol=1e-8)


# --------------------------------------------------------------------------------------
# An independent reference: the same terms integrated by scikit-fem's cell and facet bases


@pytest.mark.parametrize("degree", [1, 2])
def test_jumps_and_cell_residuals_agree_with_scikit_fem(degree):
    skfem = pytest.importorskip("skfem")
    from skfem.helpers import grad

    mesh = longest_edge_first(l_shape(2))
    for _ in range(3):
        mesh = mesh.refined((np.linalg.norm(mesh.points[mesh.cells], axis=2) < 0.6).any(1))
    space = function_space(mesh, degree)

    def f(x, y):
        return 1.0 + x * y

    solution = solve_stationary(space, f=f, rtol=1e-12)
    # a rule exact for (1 + x y)^2, so that both sides integrate exactly
    ours = residual_estimate(space, solution.u, f=f, quadrature_degree=6)

    reference = skfem.MeshTri(mesh.points.T.copy(), mesh.cells.T.copy())
    # scikit-fem sorts the vertices of each cell but keeps the cells in order
    assert np.array_equal(np.sort(reference.t, axis=0), np.sort(mesh.cells.T, axis=0))
    element = skfem.ElementTriP1() if degree == 1 else skfem.ElementTriP2()
    basis = skfem.Basis(reference, element, intorder=6)
    # the same function: its values at scikit-fem's DOF locations (vertices, midpoints)
    locations = basis.doflocs.T
    ours_at = {tuple(np.round(point, 12)): value
               for point, value in zip(space.dof_points, solution.u, strict=True)}
    u = np.array([ours_at[tuple(np.round(point, 12))] for point in locations])
    sides = [skfem.InteriorFacetBasis(reference, element, side=i, intorder=6) for i in (0, 1)]

    @skfem.Functional
    def squared_jump(w):
        return ((grad(w["u0"]) - grad(w["u1"])) * w.n).sum(axis=0) ** 2

    per_facet = squared_jump.elemental(sides[0], u0=sides[0].interpolate(u),
                                       u1=sides[1].interpolate(u))
    ends = reference.p[:, reference.facets[:, sides[0].find]]
    lengths = np.linalg.norm(ends[:, 0] - ends[:, 1], axis=0)
    jumps = np.zeros(reference.facets.shape[1])
    jumps[sides[0].find] = lengths * per_facet
    expected_facets = 0.5 * jumps[reference.t2f].sum(axis=0)
    assert np.allclose(ours.facet_residuals, expected_facets, rtol=1e-10, atol=1e-14)

    if degree == 1:  # no Laplacian: the cell residual is h_T^2 ||f||^2
        @skfem.Functional
        def squared_load(w):
            return f(*w.x) ** 2

        corners = mesh.points[mesh.cells]
        diameters = np.linalg.norm(corners - np.roll(corners, -1, axis=1), axis=2).max(axis=1)
        expected_cells = diameters**2 * squared_load.elemental(basis)
        assert np.allclose(ours.cell_residuals, expected_cells, rtol=1e-12)
