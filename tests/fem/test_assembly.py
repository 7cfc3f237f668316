"""Assembly against scikit-fem (an independent assembler) on the same mesh, and the pattern."""

import numpy as np
import pytest

skfem = pytest.importorskip("skfem")
from skfem import (  # noqa: E402
    Basis,
    BilinearForm,
    ElementLineP1,
    ElementLineP2,
    ElementTriP1,
    ElementTriP2,
    FacetBasis,
    LinearForm,
    MeshLine,
    MeshTri,
)
from skfem.helpers import dot, grad  # noqa: E402

from fem.assembly import (  # noqa: E402
    assemble_boundary_load,
    assemble_boundary_mass,
    assemble_convection,
    assemble_load,
    assemble_mass,
    assemble_stiffness,
    sparsity_pattern,
)
from fem.element import function_space  # noqa: E402
from fem.mesh import Mesh, interval, unit_square  # noqa: E402

QUADRATURE = 6  # both assemblers integrate the polynomial data below exactly


def perturbed_square(n, seed=0):
    mesh = unit_square(n)
    rng = np.random.default_rng(seed)
    points = mesh.points.copy()
    interior = ~np.isin(np.arange(mesh.num_points), mesh.boundaries["boundary"])
    points[interior] += rng.uniform(-0.2, 0.2, (interior.sum(), 2)) / n
    return Mesh(points, mesh.cells, mesh.boundaries)


def graded_interval(n, seed=1):
    rng = np.random.default_rng(seed)
    return interval(points=np.concatenate([[0.0], np.sort(rng.uniform(0, 1, n - 1)), [1.0]]))


def setup(dim, degree):
    """Our space, the scikit-fem basis on the same mesh, and the DOF permutation mine -> skfem."""
    if dim == 1:
        mesh = graded_interval(7)
        sk_mesh = MeshLine(mesh.points[:, 0].copy())
        element = ElementLineP1() if degree == 1 else ElementLineP2()
    else:
        mesh = perturbed_square(4)
        sk_mesh = MeshTri(mesh.points.T.copy(), mesh.cells.T.copy())
        element = ElementTriP1() if degree == 1 else ElementTriP2()
    space = function_space(mesh, degree)
    basis = Basis(sk_mesh, element, intorder=QUADRATURE)
    theirs = np.round(basis.doflocs.T, 12)
    mine = np.round(space.dof_points, 12)
    order_theirs = np.lexsort(theirs.T[::-1])
    order_mine = np.lexsort(mine.T[::-1])
    permutation = np.empty(space.num_dofs, dtype=np.int64)
    permutation[order_mine] = order_theirs
    assert np.allclose(basis.doflocs.T[permutation], space.dof_points)
    return space, sk_mesh, element, basis, permutation


def relative_difference(mine, theirs):
    mine = mine.toarray() if hasattr(mine, "toarray") else mine
    theirs = theirs.toarray() if hasattr(theirs, "toarray") else theirs
    return np.abs(mine - theirs).max() / np.abs(theirs).max()


def kappa_of(dim):
    if dim == 1:
        return (lambda x: 1.0 + x + x**2), (lambda w: 1.0 + w.x[0] + w.x[0] ** 2)
    return (lambda x, y: 1.0 + x + 2 * y**2), (lambda w: 1.0 + w.x[0] + 2 * w.x[1] ** 2)


CASES = [(1, 1), (1, 2), (2, 1), (2, 2)]


@pytest.mark.parametrize(("dim", "degree"), CASES)
def test_stiffness_matches_scikit_fem(dim, degree):
    space, _, _, basis, permutation = setup(dim, degree)
    mine_kappa, their_kappa = kappa_of(dim)

    @BilinearForm
    def form(u, v, w):
        return their_kappa(w) * dot(grad(u), grad(v))

    theirs = form.assemble(basis)[permutation][:, permutation]
    mine = assemble_stiffness(space, mine_kappa, quadrature_degree=QUADRATURE)
    assert relative_difference(mine, theirs) < 1e-12


@pytest.mark.parametrize(("dim", "degree"), CASES)
def test_mass_matches_scikit_fem(dim, degree):
    space, _, _, basis, permutation = setup(dim, degree)
    mine_c, their_c = kappa_of(dim)

    @BilinearForm
    def form(u, v, w):
        return their_c(w) * u * v

    theirs = form.assemble(basis)[permutation][:, permutation]
    assert relative_difference(assemble_mass(space, mine_c, quadrature_degree=QUADRATURE),
                               theirs) < 1e-12


@pytest.mark.parametrize(("dim", "degree"), CASES)
def test_convection_matches_scikit_fem(dim, degree):
    space, _, _, basis, permutation = setup(dim, degree)
    if dim == 1:
        def velocity(x):
            return (1.0 + x,)

        def their_velocity(w):
            return [1.0 + w.x[0]]
    else:
        def velocity(x, y):
            return (1.0 + y, 0.5 - x)

        def their_velocity(w):
            return [1.0 + w.x[1], 0.5 - w.x[0]]

    @BilinearForm
    def form(u, v, w):
        b = their_velocity(w)
        return sum(b[d] * grad(u)[d] for d in range(dim)) * v

    theirs = form.assemble(basis)[permutation][:, permutation]
    mine = assemble_convection(space, velocity, quadrature_degree=QUADRATURE)
    assert relative_difference(mine, theirs) < 1e-12
    assert abs(mine - mine.T).max() > 1e-3  # genuinely nonsymmetric


@pytest.mark.parametrize(("dim", "degree"), CASES)
def test_load_matches_scikit_fem(dim, degree):
    space, _, _, basis, permutation = setup(dim, degree)
    mine_f, their_f = kappa_of(dim)

    @LinearForm
    def form(v, w):
        return their_f(w) * v

    theirs = form.assemble(basis)[permutation]
    assert relative_difference(assemble_load(space, mine_f, quadrature_degree=QUADRATURE),
                               theirs) < 1e-12


@pytest.mark.parametrize("degree", [1, 2])
def test_boundary_forms_match_scikit_fem(degree):
    space, sk_mesh, element, _, permutation = setup(2, degree)
    facets = np.concatenate([sk_mesh.facets_satisfying(lambda x: np.isclose(x[0], 1.0)),
                             sk_mesh.facets_satisfying(lambda x: np.isclose(x[1], 0.0))])
    facet_basis = FacetBasis(sk_mesh, element, facets=facets, intorder=QUADRATURE)

    @BilinearForm
    def robin(u, v, w):
        return (2.0 + w.x[1] + w.x[0] ** 2) * u * v

    @LinearForm
    def flux(v, w):
        return (1.0 - w.x[0] * w.x[1]) * v

    names = ["right", "bottom"]
    mine = assemble_boundary_mass(space, names, lambda x, y: 2.0 + y + x**2,
                                  quadrature_degree=QUADRATURE)
    theirs = robin.assemble(facet_basis)[permutation][:, permutation]
    assert relative_difference(mine, theirs) < 1e-12
    mine = assemble_boundary_load(space, names, lambda x, y: 1.0 - x * y,
                                  quadrature_degree=QUADRATURE)
    assert relative_difference(mine, flux.assemble(facet_basis)[permutation]) < 1e-12


def test_boundary_forms_in_one_dimension_are_point_values():
    space = function_space(interval(0.0, 2.0, 4), 2)
    mass = assemble_boundary_mass(space, ["left", "right"], lambda x: 3.0 + x).toarray()
    expected = np.zeros((space.num_dofs, space.num_dofs))
    expected[0, 0], expected[4, 4] = 3.0, 5.0
    assert np.array_equal(mass, expected)
    load = assemble_boundary_load(space, "right", 7.0)
    assert load[4] == 7.0 and np.count_nonzero(load) == 1


@pytest.mark.parametrize("degree", [1, 2])
def test_pattern_is_structural_and_keeps_exact_zeros(degree):
    space = function_space(unit_square(4), degree)
    pattern = sparsity_pattern(space)
    # reference structure: DOF pairs sharing a cell
    rows = np.repeat(space.cell_dofs, space.cell_dofs.shape[1], axis=1).ravel()
    columns = np.tile(space.cell_dofs, space.cell_dofs.shape[1]).ravel()
    pairs = np.unique(rows * space.num_dofs + columns)
    assert pattern.nnz == pairs.size
    matrix = assemble_stiffness(space, pattern=pattern)
    coo = matrix.tocoo()
    assert np.array_equal(np.sort(coo.row * space.num_dofs + coo.col), pairs)
    # right-angled P1 triangles give exact zeros across the diagonals: they stay stored
    if degree == 1:
        assert np.count_nonzero(matrix.data == 0.0) > 0
    # the position map addresses each local pair
    local = space.cell_dofs.shape[1]
    cell = 7
    for i in range(local):
        for j in range(local):
            position = pattern.cell_positions[cell, i * local + j]
            row = space.cell_dofs[cell, i]
            assert pattern.indptr[row] <= position < pattern.indptr[row + 1]
            assert pattern.indices[position] == space.cell_dofs[cell, j]


def test_reassembly_writes_into_the_same_arrays():
    space = function_space(unit_square(6), 2)
    pattern = sparsity_pattern(space)
    matrix = assemble_stiffness(space, 1.0, pattern=pattern)
    data = matrix.data
    again = assemble_stiffness(space, lambda x, y: 2.0 + x, pattern=pattern, out=matrix)
    assert again is matrix and again.data is data
    assert np.shares_memory(matrix.indices, pattern.indices)
    fresh = assemble_stiffness(space, lambda x, y: 2.0 + x)
    assert np.allclose(matrix.toarray(), fresh.toarray(), rtol=1e-14, atol=1e-14)
    # accumulate adds a second form into the same matrix
    assemble_mass(space, 3.0, pattern=pattern, out=matrix, accumulate=True)
    reference = fresh + assemble_mass(space, 3.0)
    assert abs(matrix - reference).max() < 1e-13


def test_assembly_rejects_bad_input():
    space = function_space(unit_square(2), 1)
    with pytest.raises(ValueError, match=r"coefficient 'kappa' is not finite .* cell 0"):
        assemble_stiffness(space, lambda x, y: np.where(x < 0.3, np.nan, 1.0))
    with pytest.raises(ValueError, match="coefficient 'f' is not finite"):
        assemble_load(space, float("nan"))
    with pytest.raises(ValueError, match="must be a number or a callable"):
        assemble_mass(space, "one")
    with pytest.raises(ValueError, match="returned shape"):
        assemble_stiffness(space, lambda x, y: np.ones(5))
    with pytest.raises(ValueError, match="velocity' must have 2 components"):
        assemble_convection(space, [1.0])
    with pytest.raises(ValueError, match="unknown boundary name 'inlet'"):
        assemble_boundary_load(space, "inlet", 1.0)
    other = sparsity_pattern(function_space(unit_square(3), 1))
    with pytest.raises(ValueError, match="pattern does not belong"):
        assemble_stiffness(space, pattern=other)
    pattern = sparsity_pattern(space)
    with pytest.raises(ValueError, match="'out' must be"):
        assemble_stiffness(space, pattern=pattern, out=assemble_stiffness(space))
    with pytest.raises(ValueError, match="'out' must be"):
        assemble_load(space, out=np.zeros(3))
