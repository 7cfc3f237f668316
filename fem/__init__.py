"""Lagrange P1/P2 finite elements on intervals and triangles, assembled into fixed CSR patterns.

The modules, each with one job:

* :mod:`fem.mesh` -- :class:`Mesh`, generators, refinement, named boundary parts;
* :mod:`fem.meshio_io` -- reading and writing mesh files;
* :mod:`fem.quadrature` -- Gauss rules; :mod:`fem.element` -- bases and DOF maps;
* :mod:`fem.assembly` -- sparsity pattern and Numba element loops;
* :mod:`fem.boundary` -- Dirichlet lifting and elimination;
* :mod:`fem.problems` -- stationary problems and the heat equation (uses :mod:`solvers`);
* :mod:`fem.norms` -- error and residual norms, refinement studies;
* :mod:`fem.estimate` -- the a-posteriori residual estimator and marking;
* :mod:`fem.refine` -- newest-vertex bisection and prolongation to the refined space.

Examples
--------
>>> import numpy as np
>>> import fem
>>> space = fem.function_space(fem.unit_square(8), 1)
>>> solution = fem.solve_stationary(space, f=1.0, rtol=1e-10)
>>> bool(0.07 < solution.u.max() < 0.074)
True
"""

from fem import _cache  # noqa: F401  (before any kernel is defined)
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
from fem.boundary import LinearSystem, dirichlet_values, eliminate_dirichlet
from fem.element import FunctionSpace, LagrangeElement, dof_vector, function_space, interpolate
from fem.estimate import Estimate, dorfler_marking, mark, maximum_marking, residual_estimate
from fem.mesh import Mesh, interval, l_shape, rectangle, unit_square
from fem.norms import (
    RefinementStudy,
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
from fem.quadrature import quadrature_rule
from fem.refine import Refinement, bisect, longest_edge_first, prolongate

_PROBLEMS = ("HeatSolution", "StationarySolution", "assemble_system", "solve_heat",
             "solve_stationary")
_MESH_FILES = ("read_mesh", "write_mesh", "write_solution")
_PLOTS = ("plot_function", "plot_rates")


def __getattr__(name):
    # fem.problems, and fem.meshio_io, which pulls in meshio, are imported on first use only
    if name in _PROBLEMS:
        from fem import problems

        return getattr(problems, name)
    if name in _MESH_FILES:
        from fem import meshio_io

        return getattr(meshio_io, name)
    if name in _PLOTS:
        # fem.plot loads matplotlib inside its functions only
        from fem import plot

        return getattr(plot, name)
    raise AttributeError(f"module 'fem' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "Estimate",
    "FunctionSpace",
    "HeatSolution",
    "LagrangeElement",
    "LinearSystem",
    "Mesh",
    "Refinement",
    "RefinementStudy",
    "SparsityPattern",
    "StationarySolution",
    "assemble_boundary_load",
    "assemble_boundary_mass",
    "assemble_convection",
    "assemble_load",
    "assemble_mass",
    "assemble_stiffness",
    "assemble_system",
    "bisect",
    "dirichlet_values",
    "dof_vector",
    "dorfler_marking",
    "eliminate_dirichlet",
    "energy_error",
    "energy_norm",
    "fitted_rate",
    "function_space",
    "h1_error",
    "interpolate",
    "interval",
    "l2_error",
    "l2_norm",
    "l_shape",
    "longest_edge_first",
    "mark",
    "maximum_marking",
    "observed_rates",
    "plot_function",
    "plot_rates",
    "prolongate",
    "quadrature_rule",
    "read_mesh",
    "rectangle",
    "refinement_study",
    "residual_estimate",
    "residual_norm",
    "solve_heat",
    "solve_stationary",
    "sparsity_pattern",
    "unit_square",
    "write_mesh",
    "write_solution",
]
