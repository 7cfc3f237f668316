r"""Stationary diffusion–reaction–convection problems and the heat equation.

Stationary problem: find :math:`u` with

.. math::

    -\nabla \cdot (\kappa \nabla u) + b \cdot \nabla u + c\, u = f \ \text{in } \Omega,\qquad
    u = g_D \text{ on } \Gamma_D,\quad
    \kappa \partial_n u = g_N \text{ on } \Gamma_N,\quad
    \kappa \partial_n u + \alpha u = g_R \text{ on } \Gamma_R .

The weak form gives :math:`(K + C + M_c + R_\alpha)\, u = F + G_N + G_R`, assembled into one
CSR pattern; Dirichlet DOFs are lifted and eliminated (:mod:`fem.boundary`), and the free
system goes to ``solvers.cg`` (symmetric: no convection) or ``solvers.gmres``.

Heat equation :math:`u_t - \nabla\cdot(\kappa \nabla u) + c u = f` with the
:math:`\theta`-scheme (:math:`\theta = 1` backward Euler, :math:`\theta = 1/2`
Crank–Nicolson), for the mass matrix :math:`M` and :math:`A = K + M_c + R_\alpha`:

.. math::

    (M + \theta \Delta t A)\, u^{n+1} = (M - (1 - \theta) \Delta t A)\, u^n
        + \Delta t \left(\theta L^{n+1} + (1 - \theta) L^n\right).

The matrix on the left is assembled and restricted once; each step warm-starts the
Krylov solver from the previous solution.

Examples
--------
>>> import numpy as np
>>> from fem.mesh import interval
>>> from fem.element import function_space
>>> space = function_space(interval(0.0, 1.0, 8), 1)
>>> solution = solve_stationary(space, f=2.0, rtol=1e-12)
>>> bool(np.allclose(solution.u, space.dof_points[:, 0] * (1 - space.dof_points[:, 0])))
True
"""

from __future__ import annotations

import math
import time as clock
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

import solvers
from fem.assembly import (
    SparsityPattern,
    assemble_boundary_load,
    assemble_boundary_mass,
    assemble_convection,
    assemble_load,
    assemble_mass,
    assemble_stiffness,
    sparsity_pattern,
)
from fem.boundary import LinearSystem, dirichlet_values, eliminate_dirichlet, restrict
from fem.element import FunctionSpace, dof_vector, interpolate
from solvers import cg, gmres, preconditioner

__all__ = ["SCHEMES", "HeatSolution", "NonFiniteSystem", "StationarySolution",
           "assemble_system", "solve_heat", "solve_linear_system", "solve_stationary"]


@dataclass(frozen=True, eq=False)
class StationarySolution:
    """Result of :func:`solve_stationary`.

    Attributes
    ----------
    space : FunctionSpace
    u : ndarray, shape (num_dofs,)
        DOF values of the discrete solution (Dirichlet values included).
    result : solvers.SolveResult or None
        The Krylov solve of the free system (None when every DOF is a Dirichlet DOF).
    system : LinearSystem
        Full and reduced matrices and right-hand sides, free DOFs, lifting.
    timings : dict
        Seconds spent in ``"assemble"`` (pattern, forms, elimination) and ``"solve"``.
    """

    space: FunctionSpace
    u: np.ndarray
    result: object
    system: LinearSystem
    timings: dict = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class HeatSolution:
    """Result of :func:`solve_heat`.

    Attributes
    ----------
    space : FunctionSpace
    times : ndarray
        :math:`t_0, t_1, \\dots, t_N = t_{end}`.
    u : ndarray
        DOF values at the final time.
    steps : list of solvers.SolveResult
        One Krylov solve per time step.
    history : list of ndarray or None
        DOF values at every time (with ``keep_history=True``).
    timings : dict
        Seconds in ``"assemble"`` and ``"solve"`` (all steps).
    preconditioner : object
        The preconditioner set up once and used by every step (a
        :class:`solvers.Hierarchy` for ``M="amg"``, whose summary says what was built).
    """

    space: FunctionSpace
    times: np.ndarray
    u: np.ndarray
    steps: list
    history: list | None = None
    timings: dict = field(default_factory=dict)
    preconditioner: object = None


def _check_boundary_data(space: FunctionSpace, data, label: str) -> dict:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ValueError(f"{label} must be a mapping of boundary name to data, "
                         f"got {type(data).__name__}")
    for name in data:
        if not isinstance(name, str):
            raise ValueError(f"{label}: boundary names must be strings, got {name!r}")
        space.mesh.boundary_facets(name)  # raises with the known names
    return dict(data)


def _check_robin(space: FunctionSpace, robin) -> dict:
    robin = _check_boundary_data(space, robin, "robin")
    for name, pair in robin.items():
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
            raise ValueError(f"robin data on '{name}' must be a pair (alpha, g)")
    return robin


def _is_zero(coefficient) -> bool:
    return not callable(coefficient) and np.ndim(coefficient) == 0 \
        and not isinstance(coefficient, (str, bool)) and float(coefficient) == 0.0


class NonFiniteSystem(ValueError):
    """An assembled matrix or load vector with a NaN or infinite entry.

    The data were finite where they were given, but a product overflowed (say
    ``kappa = 1e308`` times a gradient); solving would give NaN, so it is refused here.
    """


def _finite(assembled, what: str, data: str):
    values = assembled.data if hasattr(assembled, "tocsr") else assembled
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise NonFiniteSystem(f"the assembled {what} has {bad.size} NaN or infinite "
                              f"entries (first value {values[bad[0]]}): {data} too large "
                              f"or not finite at a quadrature point")
    return assembled


def _operator(space, pattern, *, kappa, reaction, velocity, robin, out=None):
    """:math:`K_\\kappa + C_b + M_c + R_\\alpha` accumulated in one matrix on ``pattern``."""
    matrix = assemble_stiffness(space, kappa, pattern=pattern, out=out)
    if not _is_zero(reaction):
        assemble_mass(space, reaction, pattern=pattern, out=matrix, accumulate=True)
    if velocity is not None:
        assemble_convection(space, velocity, pattern=pattern, out=matrix, accumulate=True)
    for name, (alpha, _) in robin.items():
        assemble_boundary_mass(space, name, alpha, pattern=pattern, out=matrix, accumulate=True)
    return _finite(matrix, "matrix", "kappa, reaction, velocity or a Robin alpha")


def _load(space, *, f, neumann, robin, time=None, out=None):
    """:math:`F + G_N + G_R` at ``time`` (time-independent data when ``time`` is None)."""
    vector = assemble_load(space, f, time=time, out=out)
    for name, g in neumann.items():
        assemble_boundary_load(space, name, g, time=time, out=vector, accumulate=True)
    for name, (_, g) in robin.items():
        assemble_boundary_load(space, name, g, time=time, out=vector, accumulate=True)
    return _finite(vector, "load vector", "f, or Neumann or Robin data")


def assemble_system(space: FunctionSpace, *, kappa=1.0, reaction=0.0, velocity=None, f=0.0,
                    dirichlet=None, neumann=None, robin=None,
                    pattern: SparsityPattern | None = None) -> LinearSystem:
    """Assemble the stationary problem and eliminate its Dirichlet DOFs.

    Same data as :func:`solve_stationary`; returns the :class:`~fem.boundary.LinearSystem`.
    """
    if not isinstance(space, FunctionSpace):
        raise ValueError(f"expected a FunctionSpace, got {type(space).__name__}")
    neumann = _check_boundary_data(space, neumann, "neumann")
    robin = _check_robin(space, robin)
    if pattern is None:
        pattern = sparsity_pattern(space)
    matrix = _operator(space, pattern, kappa=kappa, reaction=reaction, velocity=velocity,
                       robin=robin)
    rhs = _load(space, f=f, neumann=neumann, robin=robin)
    dofs, values = dirichlet_values(space, dirichlet)
    return eliminate_dirichlet(matrix, rhs, dofs, values, symmetric=velocity is None)


def _choose_method(method, symmetric: bool) -> str:
    if method is None:
        return "cg" if symmetric else "gmres"
    if method not in ("cg", "gmres"):
        raise ValueError(f"method must be 'cg', 'gmres' or None, got {method!r}")
    return method


def solve_linear_system(method: str, matrix, rhs, x0=None, *, M=None, rtol: float = 1e-8,
                        atol: float = 0.0, maxiter: int | None = None, restart: int = 30,
                        callback: Callable | None = None, monitor: Callable | None = None):
    """``solvers.cg`` (``method="cg"``) or ``solvers.gmres`` with one set of options.

    ``restart`` goes to GMRES only.  Returns the :class:`solvers.SolveResult`.
    """
    if method == "cg":
        return cg(matrix, rhs, x0, rtol=rtol, atol=atol, maxiter=maxiter, M=M,
                  callback=callback, monitor=monitor)
    return gmres(matrix, rhs, x0, rtol=rtol, atol=atol, restart=restart, maxiter=maxiter, M=M,
                 callback=callback, monitor=monitor)


def solve_stationary(space: FunctionSpace, *, kappa=1.0, reaction=0.0, velocity=None, f=0.0,
                     dirichlet=None, neumann=None, robin=None, method: str | None = None,
                     M=None, rtol: float = 1e-8, atol: float = 0.0, maxiter: int | None = None,
                     restart: int = 30, callback: Callable | None = None,
                     monitor: Callable | None = None, x0=None) -> StationarySolution:
    r"""Solve :math:`-\nabla\cdot(\kappa\nabla u) + b\cdot\nabla u + c u = f` with boundary data.

    Parameters
    ----------
    space : FunctionSpace
    kappa, reaction : float or callable
        :math:`\kappa(x)` and :math:`c(x)`.
    velocity : sequence of float or callable, optional
        :math:`b(x)` (a tuple of ``dim`` arrays from a callable); makes the system
        nonsymmetric.
    f : float or callable
        Source term.
    dirichlet : mapping name -> value or callable, optional
        ``None``: :math:`u = 0` on the whole boundary; ``{}``: no Dirichlet part.
    neumann : mapping name -> g, optional
        :math:`\kappa \partial_n u = g`.
    robin : mapping name -> (alpha, g), optional
        :math:`\kappa \partial_n u + \alpha u = g`.
    method : {"cg", "gmres"}, optional
        Default ``"cg"`` without convection, ``"gmres"`` with.
    M, rtol, atol, maxiter, restart, callback, monitor
        Passed to ``solvers.cg`` / ``solvers.gmres`` (``restart`` to GMRES only); ``M``
        may name a preconditioner (``"ic0"``, ``"amg"``, ...).
    x0 : ndarray, shape (num_dofs,), optional
        A first guess of all DOF values (its free ones start the Krylov solve), such as
        the solution on a coarser mesh prolongated by :func:`fem.refine.prolongate`.

    Returns
    -------
    StationarySolution

    Raises
    ------
    ValueError
        For an unknown boundary name, malformed data, non-finite coefficients.

    Examples
    --------
    >>> from fem.mesh import unit_square
    >>> from fem.element import function_space
    >>> space = function_space(unit_square(8), 2)
    >>> exact = lambda x, y: 1 + x + 2 * y
    >>> solution = solve_stationary(space, dirichlet={"boundary": exact}, rtol=1e-12)
    >>> bool(np.allclose(solution.u, exact(*space.dof_points.T)))
    True
    """
    start = clock.perf_counter()
    system = assemble_system(space, kappa=kappa, reaction=reaction, velocity=velocity, f=f,
                             dirichlet=dirichlet, neumann=neumann, robin=robin)
    method = _choose_method(method, system.symmetric)
    assembled = clock.perf_counter()
    if system.free_dofs.size == 0:
        result = None
        u = system.lifting.copy()
    else:
        guess = None if x0 is None else dof_vector(space, x0, "x0")[system.free_dofs]
        result = solve_linear_system(method, system.reduced_matrix, system.reduced_rhs, guess, M=M,
                         rtol=rtol, atol=atol, maxiter=maxiter, restart=restart,
                         callback=callback, monitor=monitor)
        u = system.expand(result.x)
    solved = clock.perf_counter()
    return StationarySolution(space, u, result, system,
                              {"assemble": assembled - start, "solve": solved - assembled})


#: The time-stepping schemes of :func:`solve_heat` and the theta of each.
SCHEMES = {"backward_euler": 1.0, "crank_nicolson": 0.5}


def heat_schedule(scheme: str, t_start: float, t_end: float,
                  dt: float) -> tuple[float, np.ndarray, float]:
    r"""The :math:`\theta` of ``scheme``, the times :math:`t_0, \dots, t_N = t_{end}` and
    the step: :math:`N = \lceil (t_{end} - t_0)/\Delta t \rceil` equal steps (the step
    shortened to fit exactly), after checking the arguments."""
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {sorted(SCHEMES)}, got {scheme!r}")
    for label, value in (("t_start", t_start), ("t_end", t_end), ("dt", dt)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) \
                or not math.isfinite(value):
            raise ValueError(f"{label} must be a finite number, got {value!r}")
    if dt <= 0.0:
        raise ValueError(f"dt must be positive, got {dt!r}")
    if t_end <= t_start:
        raise ValueError(f"t_end must exceed t_start, got t_start={t_start!r}, t_end={t_end!r}")
    num_steps = max(1, math.ceil((t_end - t_start) / dt - 1e-9))
    step = (t_end - t_start) / num_steps
    times = t_start + step * np.arange(num_steps + 1)
    times[-1] = t_end
    return SCHEMES[scheme], times, step


def solve_heat(space: FunctionSpace, *, kappa=1.0, reaction=0.0, f=0.0, initial=0.0,
               t_end: float, dt: float, t_start: float = 0.0,
               scheme: str = "crank_nicolson", dirichlet=None, neumann=None, robin=None,
               method: str | None = None, M=None, rtol: float = 1e-8, atol: float = 0.0,
               maxiter: int | None = None, restart: int = 30,
               step_callback: Callable | None = None, monitor: Callable | None = None,
               keep_history: bool = False, amg: Mapping | None = None) -> HeatSolution:
    r"""Solve :math:`u_t - \nabla\cdot(\kappa \nabla u) + c u = f` by the :math:`\theta`-scheme.

    Parameters
    ----------
    space : FunctionSpace
    kappa, reaction : float or callable of space
        Time-independent :math:`\kappa(x)`, :math:`c(x)` (the matrix is assembled once).
    f : float or callable
        Source ``f(x, t)`` / ``f(x, y, t)``.
    initial : float or callable
        :math:`u(\cdot, t_0)`, interpolated at the DOF points (``u0(x)`` / ``u0(x, y)``).
    t_end, dt : float
        Final time and step; the number of steps is :math:`\lceil (t_{end} - t_0)/\Delta t
        \rceil` and the step is shortened to fit exactly.
    t_start : float
        Initial time :math:`t_0`.
    scheme : {"crank_nicolson", "backward_euler"}
    dirichlet, neumann, robin
        As in :func:`solve_stationary`; data are callables of space and time, the Robin
        :math:`\alpha` of space only.
    method, M, rtol, atol, maxiter, restart, monitor
        Krylov solver options (CG by default: the matrix is symmetric).  A named ``M``
        is set up once for all steps, since the matrix does not change.
    amg : mapping, optional
        With ``M="amg"``: keywords of :func:`solvers.amg` (``theta``, ``sweeps``, ...)
        for the hierarchy of the step matrix.
    step_callback : callable, optional
        ``step_callback(step, t, u)`` after each step.
    keep_history : bool
        Keep the DOF values at every time.

    Returns
    -------
    HeatSolution

    Examples
    --------
    >>> from fem.mesh import interval
    >>> from fem.element import function_space
    >>> space = function_space(interval(0.0, 1.0, 4), 2)
    >>> exact = lambda x, t: x * (1 - x) * np.exp(-t)
    >>> solution = solve_heat(space, f=lambda x, t: (2 - x * (1 - x)) * np.exp(-t),
    ...                       initial=lambda x: exact(x, 0.0), t_end=1.0, dt=0.01,
    ...                       rtol=1e-12)
    >>> bool(abs(solution.u - exact(space.dof_points[:, 0], 1.0)).max() < 1e-5)
    True
    """
    if not isinstance(space, FunctionSpace):
        raise ValueError(f"expected a FunctionSpace, got {type(space).__name__}")
    theta, times, step = heat_schedule(scheme, t_start, t_end, dt)
    num_steps = times.size - 1
    neumann = _check_boundary_data(space, neumann, "neumann")
    robin = _check_robin(space, robin)
    method = _choose_method(method, True)

    started = clock.perf_counter()
    pattern = sparsity_pattern(space)
    operator = _operator(space, pattern, kappa=kappa, reaction=reaction, velocity=None,
                         robin=robin)
    mass = assemble_mass(space, pattern=pattern)
    # all matrices share one pattern, so linear combinations act on the data arrays
    left = pattern.matrix(mass.data + theta * step * operator.data)
    right = pattern.matrix(mass.data - (1.0 - theta) * step * operator.data)
    dofs, _ = dirichlet_values(space, dirichlet, time=times[0])
    free = np.ones(space.num_dofs, dtype=bool)
    free[dofs] = False
    free_dofs = np.flatnonzero(free)
    reduced = restrict(left, free_dofs)
    if amg is not None and M != "amg":
        raise ValueError(f"amg: options of the AMG hierarchy need M='amg'; M is {M!r}")
    if free_dofs.size:
        M = solvers.amg(reduced, **amg) if amg is not None else preconditioner(M, reduced)
    u = interpolate(space, initial)
    load_now = _load(space, f=f, neumann=neumann, robin=robin, time=times[0])
    load_next = np.empty_like(load_now)
    timings = {"assemble": clock.perf_counter() - started, "solve": 0.0}

    steps = []
    history = [u.copy()] if keep_history else None
    for n in range(num_steps):
        tick = clock.perf_counter()
        _load(space, f=f, neumann=neumann, robin=robin, time=times[n + 1], out=load_next)
        rhs = right @ u + step * (theta * load_next + (1.0 - theta) * load_now)
        next_dofs, next_values = dirichlet_values(space, dirichlet, time=times[n + 1])
        lifting = np.zeros(space.num_dofs)
        lifting[next_dofs] = next_values
        reduced_rhs = (rhs - left @ lifting)[free_dofs]
        tock = clock.perf_counter()
        timings["assemble"] += tock - tick
        if free_dofs.size:
            result = solve_linear_system(method, reduced, reduced_rhs, u[free_dofs], M=M, rtol=rtol,
                             atol=atol, maxiter=maxiter, restart=restart, callback=None,
                             monitor=monitor)
            lifting[free_dofs] = result.x
            steps.append(result)
        u = lifting
        timings["solve"] += clock.perf_counter() - tock
        load_now, load_next = load_next, load_now
        if history is not None:
            history.append(u.copy())
        if step_callback is not None:
            step_callback(n + 1, float(times[n + 1]), u)
    return HeatSolution(space, times, u, steps, history, timings, M)
