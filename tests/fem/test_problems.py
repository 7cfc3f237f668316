"""Manufactured solutions, patch tests, classical reference values and the heat equation."""

import numpy as np
import pytest

from fem.element import function_space
from fem.mesh import Mesh, interval, unit_square
from fem.norms import l2_error, refinement_study, residual_norm
from fem.problems import solve_heat, solve_stationary

TOLERANCE = 1e-12


# ---------------------------------------------------------------------------------------
# 2D: u = exp(x + y/2), kappa = 1 + x^2 + y/2, reaction c = 1 + x y, velocity (1 + y, -x).
# -div(kappa grad u) = -(2x u + u/4 + 5/4 kappa u);  b.grad u = ((1 + y) - x/2) u.


def exact_2d(x, y):
    return np.exp(x + y / 2)


def gradient_2d(x, y):
    u = exact_2d(x, y)
    return u, u / 2


def kappa_2d(x, y):
    return 1.0 + x**2 + y / 2


def alpha_2d(x, y):
    return 2.0 + x


def problem_2d(convection):
    def f(x, y):
        u = exact_2d(x, y)
        value = -(2 * x + 0.25 + 1.25 * kappa_2d(x, y)) * u + (1.0 + x * y) * u
        if convection:
            value = value + ((1.0 + y) - x / 2) * u
        return value

    data = dict(
        kappa=kappa_2d,
        reaction=lambda x, y: 1.0 + x * y,
        f=f,
        dirichlet={"left": exact_2d, "bottom": exact_2d},
        neumann={"right": lambda x, y: kappa_2d(x, y) * gradient_2d(x, y)[0]},
        robin={"top": (alpha_2d, lambda x, y: kappa_2d(x, y) * gradient_2d(x, y)[1]
                       + alpha_2d(x, y) * exact_2d(x, y))},
    )
    if convection:
        data["velocity"] = lambda x, y: (1.0 + y, -x)
        data["M"] = "ilu0"  # restarted GMRES stagnates without a preconditioner
    return data


# 1D: u = cos(pi x) + x, kappa = 1 + x, reaction 2 + x, velocity 1 + x^2.


def exact_1d(x):
    return np.cos(np.pi * x) + x


def derivative_1d(x):
    return -np.pi * np.sin(np.pi * x) + 1.0


def problem_1d(convection, variant):
    def f(x):
        second = -np.pi**2 * np.cos(np.pi * x)
        value = -(derivative_1d(x) + (1 + x) * second) + (2 + x) * exact_1d(x)
        if convection:
            value = value + (1 + x**2) * derivative_1d(x)
        return value

    data = dict(kappa=lambda x: 1 + x, reaction=lambda x: 2 + x, f=f)
    if variant == "robin":
        # u(0) = 1 (inhomogeneous), kappa u'(1) + 3 u(1) = g
        data["dirichlet"] = {"left": exact_1d}
        data["robin"] = {"right": (3.0, 2 * derivative_1d(1.0) + 3 * exact_1d(1.0))}
    else:
        # kappa du/dn = -kappa(0) u'(0) at the left end, u(1) = 0
        data["dirichlet"] = {"right": exact_1d}
        data["neumann"] = {"left": -derivative_1d(0.0)}
    if convection:
        data["velocity"] = lambda x: 1 + x**2
        data["M"] = "ilu0"  # restarted GMRES stagnates without a preconditioner
    return data


def assert_rates(study, expected):
    assert all(result.result.converged for result in study.results)
    for name, rate in expected.items():
        rates = study.rates[name]
        assert len(rates) >= 3
        assert np.all(np.abs(rates - rate) < 0.1), (name, rates, study.errors[name])


@pytest.mark.parametrize("degree", [1, 2])
@pytest.mark.parametrize("convection", [False, True])
def test_manufactured_solution_2d_rates(degree, convection):
    data = problem_2d(convection)
    study = refinement_study(
        unit_square(4), degree, lambda space: solve_stationary(space, rtol=TOLERANCE, **data),
        levels=4, exact=exact_2d, exact_gradient=gradient_2d)
    assert_rates(study, {"l2": degree + 1, "h1": degree})
    last = study.results[-1]
    assert last.result.converged
    reduced = last.system.reduced_matrix
    asymmetry = abs(reduced - reduced.T).max() / abs(reduced).max()
    assert last.system.symmetric is (not convection)
    assert (asymmetry > 1e-3) if convection else (asymmetry < 1e-15)
    assert last.result.method == ("gmres" if convection else "cg")
    assert residual_norm(last.system, last.u) <= 1e-10 * np.linalg.norm(last.system.reduced_rhs)


@pytest.mark.parametrize("degree", [1, 2])
@pytest.mark.parametrize("convection", [False, True])
@pytest.mark.parametrize("variant", ["robin", "neumann"])
def test_manufactured_solution_1d_rates(degree, convection, variant):
    data = problem_1d(convection, variant)
    study = refinement_study(
        interval(0.0, 1.0, 8 if degree == 1 else 4), degree,
        lambda space: solve_stationary(space, rtol=TOLERANCE, **data),
        levels=4, exact=exact_1d, exact_gradient=derivative_1d)
    assert_rates(study, {"l2": degree + 1, "h1": degree})


def perturbed(mesh, seed=3):
    rng = np.random.default_rng(seed)
    points = mesh.points.copy()
    interior = ~np.isin(np.arange(mesh.num_points), mesh.boundaries["boundary"])
    points[interior] += rng.uniform(-0.15, 0.15, (interior.sum(), 2)) * mesh.h
    return Mesh(points, mesh.cells, mesh.boundaries)


def test_patch_test_p1_reproduces_linear_solution():
    space = function_space(perturbed(unit_square(5)), 1)

    def exact(x, y):
        return 1.0 + 2.0 * x - 3.0 * y

    # kappa = 1 + x + y is linear, so f = -grad kappa . grad u = 1 is constant
    solution = solve_stationary(space, kappa=lambda x, y: 1 + x + y, f=1.0,
                                dirichlet={"left": exact, "bottom": exact, "top": exact},
                                neumann={"right": lambda x, y: 2.0 * (2 + y)},
                                rtol=1e-14)
    assert np.abs(solution.u - exact(*space.dof_points.T)).max() < 1e-12


def test_patch_test_p2_reproduces_quadratic_solution():
    space = function_space(perturbed(unit_square(4)), 2)

    def exact(x, y):
        return x**2 + 2 * x * y + 3 * y**2 - x

    # -lap u = -8; robin on top: u_y + u = 2x + 6y + u at y = 1
    solution = solve_stationary(space, f=-8.0, dirichlet={"left": exact, "bottom": exact},
                                neumann={"right": lambda x, y: 2 * x + 2 * y - 1},
                                robin={"top": (1.0, lambda x, y: 2 * x + 6 * y + exact(x, y))},
                                rtol=1e-14)
    assert np.abs(solution.u - exact(*space.dof_points.T)).max() < 1e-11


def test_p1_nodal_values_exact_in_one_dimension():
    rng = np.random.default_rng(5)
    mesh = interval(points=np.concatenate([[0.0], np.sort(rng.uniform(0, 1, 9)), [1.0]]))
    space = function_space(mesh, 1)
    # -u'' = 12 x^2 with u(0) = u(1) = 0 has u = x - x^4
    solution = solve_stationary(space, f=lambda x: 12 * x**2, rtol=1e-14)
    x = space.dof_points[:, 0]
    assert np.abs(solution.u - (x - x**4)).max() < 1e-13
    assert l2_error(space, solution.u, lambda x: x - x**4) > 1e-4  # but not exact between


def test_centre_value_of_the_torsion_problem_converges():
    reference = 0.0736713532815
    errors = []
    for n in (4, 8, 16, 32):
        space = function_space(unit_square(n), 1)
        solution = solve_stationary(space, f=1.0, rtol=1e-13)
        centre = np.flatnonzero(np.all(np.isclose(space.dof_points, 0.5), axis=1))[0]
        errors.append(abs(solution.u[centre] - reference))
    rates = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(np.abs(rates - 2) < 0.2), rates
    space = function_space(unit_square(16), 2)
    solution = solve_stationary(space, f=1.0, rtol=1e-13)
    centre = np.flatnonzero(np.all(np.isclose(space.dof_points, 0.5), axis=1))[0]
    assert abs(solution.u[centre] - reference) < 2e-6


def test_stationary_default_and_empty_dirichlet():
    space = function_space(interval(0.0, 1.0, 8), 1)
    solution = solve_stationary(space, f=1.0, rtol=1e-13)
    assert solution.u[0] == 0.0 and solution.u[-1] == 0.0
    assert solution.system.dirichlet_dofs.tolist() == [0, 8]
    # no Dirichlet part at all: u - u'' = 1 with zero flux has u = 1
    solution = solve_stationary(space, reaction=1.0, f=1.0, dirichlet={}, rtol=1e-13)
    assert solution.system.free_dofs.size == space.num_dofs
    assert np.allclose(solution.u, 1.0)
    assert set(solution.timings) == {"assemble", "solve"}


def test_stationary_rejects_bad_input():
    space = function_space(unit_square(2), 1)
    with pytest.raises(ValueError, match="unknown boundary name 'inlet'"):
        solve_stationary(space, dirichlet={"inlet": 0.0})
    with pytest.raises(ValueError, match="unknown boundary name 'outlet'"):
        solve_stationary(space, neumann={"outlet": 1.0})
    with pytest.raises(ValueError, match="pair"):
        solve_stationary(space, robin={"top": 1.0})
    with pytest.raises(ValueError, match="method must be"):
        solve_stationary(space, method="bicgstab")
    with pytest.raises(ValueError, match="coefficient 'kappa' is not finite"):
        solve_stationary(space, kappa=lambda x, y: np.where(x > 0.5, np.inf, 1.0))
    with pytest.raises(ValueError, match="Dirichlet data on 'left' is not finite"):
        solve_stationary(space, dirichlet={"left": lambda x, y: np.where(y > 0.5, np.nan, 0)})


# ---------------------------------------------------------------------------------------
# Heat equation: u = (1 + x^2) cos(2t) lies in the P2 space for every t, so the error
# is the time-stepping error alone.


def heat_exact(x, t):
    return (1 + x**2) * np.cos(2 * t)


def heat_source(x, t):
    return -2 * (1 + x**2) * np.sin(2 * t) - 2 * np.cos(2 * t)


def heat_error(scheme, dt, right="neumann"):
    space = function_space(interval(0.0, 1.0, 4), 2)
    if right == "neumann":  # u_x(1, t) = 2 cos(2t)
        boundary = {"neumann": {"right": lambda x, t: 2 * x * np.cos(2 * t)}}
    else:  # u_x + 3 u = 2 cos(2t) + 6 cos(2t) at x = 1
        boundary = {"robin": {"right": (3.0, lambda x, t: 8 * np.cos(2 * t))}}
    solution = solve_heat(space, f=heat_source, initial=lambda x: heat_exact(x, 0.0),
                          t_end=1.0, dt=dt, scheme=scheme,
                          dirichlet={"left": heat_exact}, rtol=1e-14, **boundary)
    return np.abs(solution.u - heat_exact(space.dof_points[:, 0], 1.0)).max(), solution


@pytest.mark.parametrize(("scheme", "order"), [("crank_nicolson", 2), ("backward_euler", 1)])
@pytest.mark.parametrize("right", ["neumann", "robin"])
def test_heat_equation_order_in_time(scheme, order, right):
    # backward Euler with the Robin condition reaches its asymptotic order later
    steps = [0.1, 0.05, 0.025, 0.0125] if order == 2 else [0.02, 0.01, 0.005, 0.0025]
    errors = np.array([heat_error(scheme, dt, right)[0] for dt in steps])
    rates = np.log2(errors[:-1] / errors[1:])
    assert np.all(np.abs(rates - order) < 0.1), rates


def test_heat_solution_bookkeeping_and_warm_start():
    seen = []
    space = function_space(unit_square(4), 1)
    solution = solve_heat(space, initial=lambda x, y: np.sin(np.pi * x) * np.sin(np.pi * y),
                          t_end=0.1, dt=0.03, keep_history=True,
                          step_callback=lambda step, t, u: seen.append((step, t)), rtol=1e-12)
    assert len(solution.times) == 5 and np.isclose(solution.times[-1], 0.1)
    assert len(solution.steps) == 4 and len(solution.history) == 5
    assert [step for step, _ in seen] == [1, 2, 3, 4]
    # the first eigenmode decays like exp(-lambda t), lambda = 2 pi^2 on the continuum and
    # somewhat larger on a coarse mesh
    ratio = np.abs(solution.u).max() / np.abs(solution.history[0]).max()
    assert 0.05 < ratio < np.exp(-2 * np.pi**2 * 0.1)
    assert all(result.converged for result in solution.steps)


def test_heat_steps_are_warm_started():
    space = function_space(unit_square(4), 2)
    solution = solve_heat(space, initial=lambda x, y: np.sin(np.pi * x) * np.sin(np.pi * y),
                          t_end=0.005, dt=0.001, rtol=1e-12)
    # from x0 = 0 the first residual would be the right-hand side itself
    for result in solution.steps:
        assert result.residual_norms[0] < 0.1 * result.rhs_norm


def test_heat_rejects_bad_input():
    space = function_space(interval(0.0, 1.0, 4), 1)
    with pytest.raises(ValueError, match="scheme must be"):
        solve_heat(space, t_end=1.0, dt=0.1, scheme="leapfrog")
    with pytest.raises(ValueError, match="dt must be positive"):
        solve_heat(space, t_end=1.0, dt=0.0)
    with pytest.raises(ValueError, match="t_end must exceed"):
        solve_heat(space, t_end=-1.0, dt=0.1)
    with pytest.raises(ValueError, match="unknown boundary name 'top'"):
        solve_heat(space, t_end=1.0, dt=0.1, dirichlet={"top": 0.0})
    with pytest.raises(ValueError, match=r"Dirichlet data on 'left' .* g\(x, t\)"):
        solve_heat(space, t_end=1.0, dt=0.1, dirichlet={"left": lambda x: x})
    with pytest.raises(ValueError, match="coefficient 'f' could not be evaluated"):
        solve_heat(space, t_end=1.0, dt=0.1, f=lambda x: x)


def test_heat_builds_its_amg_hierarchy_once_with_the_options_given():
    from solvers import Hierarchy

    space = function_space(unit_square(128), 1)  # more unknowns than AMG solves directly
    solution = solve_heat(space, f=1.0, t_end=0.03, dt=0.01, dirichlet={"boundary": 0.0},
                          M="amg", amg={"sweeps": 1, "max_coarse": 500}, rtol=1e-10)
    hierarchy = solution.preconditioner
    assert isinstance(hierarchy, Hierarchy) and hierarchy.sizes[-1] <= 500
    assert hierarchy.levels >= 3 and hierarchy.sweeps == 1
    assert all(step.converged and step.preconditioner == "amg" for step in solution.steps)
    with pytest.raises(ValueError, match="amg: options of the AMG hierarchy need M='amg'"):
        solve_heat(space, f=1.0, t_end=0.01, dt=0.01, M="jacobi", amg={"sweeps": 1})
