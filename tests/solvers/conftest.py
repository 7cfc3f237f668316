"""Model problems with known spectra for the solver tests."""

import numpy as np
import pytest
import scipy.sparse as sp


def laplacian_1d(n: int) -> sp.csr_array:
    """tridiag(-1, 2, -1): eigenvalues 2 - 2 cos(k pi / (n + 1)), k = 1..n."""
    return sp.csr_array(sp.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1]))


def laplacian_2d(m: int) -> sp.csr_array:
    """The 5-point Laplacian on an m x m interior grid (unscaled)."""
    T = laplacian_1d(m)
    identity = sp.identity(m)
    return sp.csr_array(sp.kron(identity, T) + sp.kron(T, identity))


def convection_diffusion_2d(m: int, epsilon: float = 0.01) -> sp.csr_array:
    """Upwind -epsilon lap u + u_x on an m x m grid: nonsymmetric, an M-matrix."""
    h = 1.0 / (m + 1)
    diffusion = laplacian_1d(m) * (epsilon / h**2)
    upwind = sp.diags([-np.ones(m - 1), np.ones(m)], [-1, 0]) / h
    identity = sp.identity(m)
    return sp.csr_array(sp.kron(identity, diffusion + upwind) + sp.kron(diffusion, identity))


@pytest.fixture
def rng():
    return np.random.default_rng(20261126)


@pytest.fixture(scope="session")
def model():
    """The builders, as a fixture (test modules import nothing from conftest)."""

    class Model:
        laplacian_1d = staticmethod(laplacian_1d)
        laplacian_2d = staticmethod(laplacian_2d)
        convection_diffusion_2d = staticmethod(convection_diffusion_2d)

    return Model
