"""Each parallel kernel of the Krylov loops is one parallel region: one fork and one join
of the threads per call.

Numba turns some array operations inside a ``parallel=True`` function into parallel loops
of their own (``np.zeros`` among them); one that does not fuse with the ``prange`` loop is
a second region, a second barrier on every call, which costs GMRES on two threads about a
tenth of its time at n = 1e4.  The count comes from Numba's parfor diagnostics, which exist
only for a kernel compiled in this process: the program runs on an empty Numba cache.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROGRAM = r"""
import json
import numpy as np
import scipy.sparse as sp
from numba.core.registry import CPUDispatcher
from solvers import _csr, _gram_schmidt

n, count = 5000, 6
matrix = sp.csr_array(sp.diags_array([-np.ones(n - 1), 4.0 * np.ones(n), -np.ones(n - 1)],
                                     offsets=[-1, 0, 1]))
indptr, indices = matrix.indptr, matrix.indices.astype(np.int32).view(np.uint32)
bounds = _csr.chunk_bounds(indptr, 1024)
assert bounds.size > 2, bounds
rng = np.random.default_rng(0)
for dtype in (np.float64, np.complex128):
    def vector():
        return (rng.standard_normal(n) + (1j * rng.standard_normal(n) if dtype == np.complex128
                                          else 0.0)).astype(dtype)
    data = matrix.data.astype(dtype)
    x, y, r, p, q = vector(), vector(), vector(), vector(), vector()
    V = np.stack([vector() for _ in range(count + 1)])
    h = np.zeros(count + 1, dtype=dtype)
    no_jacobi = np.empty(0)
    _csr.spmv_dot(indptr, indices, data, x, y, bounds)
    _csr.residual(indptr, indices, data, x, y, r, bounds)
    _csr.cg_update(0.5, p, q, x, r, no_jacobi, bounds)
    _csr.cg_direction(0.5, r, r, no_jacobi, p, bounds)
    _csr.dot(x, y, bounds)
    _csr.axpby(0.5, x, 0.0, y, bounds)
    _gram_schmidt.project(V, count, y, h, bounds)
    _gram_schmidt.spmv_project(indptr, indices, data, x, V, count, y, h, bounds)
    _gram_schmidt.subtract(V, count, h, y, bounds)
    _gram_schmidt.subtract_project(V, count, h, y, bounds)
    _gram_schmidt.combine(V, count, h, y, bounds)

regions = {}
for module in (_csr, _gram_schmidt):
    for name, kernel in vars(module).items():
        if isinstance(kernel, CPUDispatcher) and kernel.targetoptions.get("parallel"):
            regions[f"{module.__name__}.{name}"] = [
                len(kernel.get_metadata(signature)["parfor_diagnostics"].get_parfors())
                for signature in kernel.signatures]
print(json.dumps(regions))
"""


def test_every_parallel_kernel_is_one_region_for_real_and_complex_vectors(tmp_path):
    environment = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba"),
                       PYTHONPATH=str(ROOT))
    completed = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True,
                               text=True, env=environment, cwd=tmp_path, timeout=600)
    assert completed.returncode == 0, completed.stderr
    regions = json.loads(completed.stdout.splitlines()[-1])
    assert len(regions) == 11, sorted(regions)  # every parallel kernel is called above
    # each compiled for both dtypes (real and complex vectors), each one region
    assert regions == {name: [1, 1] for name in regions}
