"""solvers.is_cached and solvers.warm_up against a fresh Numba cache, in fresh processes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

import solvers

ROOT = Path(__file__).resolve().parents[2]

_PROBE = """
import json, sys
sys.path.insert(0, {root!r})
import numpy as np
import solvers
method, preconditioner = sys.argv[1], sys.argv[2]
before = solvers.is_cached(method, np.float64, preconditioner)
said = []  # on_compile: once, when Numba starts compiling a first kernel
first = solvers.warm_up(method, np.float64, preconditioner, on_compile=lambda: said.append(1))
after = solvers.is_cached(method, np.float64, preconditioner)
again = solvers.warm_up(method, np.float64, preconditioner)
# what a CG run must not compile: GMRES loops, float32 loops, other preconditioner kinds
import importlib
cg_module = importlib.import_module("solvers.cg")
gmres_module = importlib.import_module("solvers.gmres")
loops = {{f"cg:{{kind}}": len(loop.signatures) for kind, loop in cg_module.LOOPS.items()}}
loops.update({{f"gmres:{{kind}}": len(loop.signatures)
               for kind, loop in gmres_module.LOOPS.items()}})
kernels = [importlib.import_module(f"solvers.{{name}}") for name in ("_csr", "_gram_schmidt")]
parallel = sum(len(getattr(module, name).signatures) for module in kernels
               for name in dir(module) if name.startswith("_") and name.endswith("_chunks"))
dtypes = sorted({{str(sig[2].dtype) for loop in cg_module.LOOPS.values()
                  for sig in loop.signatures}})
print(json.dumps({{"before": before, "after": after, "first": first.compiled,
                   "again": again.compiled, "seconds": first.seconds, "loops": loops,
                   "said": len(said),
                   "parallel": parallel, "dtypes": dtypes}}))
"""


def _probe(cache_dir, method, preconditioner):
    environment = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    environment.pop("NUMBA_DISABLE_JIT", None)
    completed = subprocess.run(
        [sys.executable, "-c", _PROBE.format(root=str(ROOT)), method, preconditioner],
        env=environment, capture_output=True, text=True, check=True, timeout=600)
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_a_fresh_cache_compiles_once_and_a_second_process_only_loads(tmp_path):
    fresh = _probe(tmp_path, "cg", "ic0")
    assert fresh["before"] is False
    assert fresh["first"] is True          # compiled
    assert fresh["after"] is True          # now in memory and on disk
    assert fresh["again"] is False         # nothing left to compile
    assert fresh["said"] == 1              # "compiling" said once, for many kernels
    # Only what a float64 CG run with IC(0) on a small system reaches was compiled.
    compiled = {name for name, count in fresh["loops"].items() if count}
    assert compiled == {"cg:4"}
    assert fresh["loops"]["cg:4"] == 1
    assert fresh["parallel"] == 0
    assert fresh["dtypes"] == ["float64"]

    second = _probe(tmp_path, "cg", "ic0")
    assert second["before"] is True
    assert second["first"] is False        # loaded from the cache, nothing compiled
    assert second["said"] == 0
    assert second["seconds"] < fresh["seconds"]


_SMOOTHER_PROBE = """
import json, sys
sys.path.insert(0, {root!r})
import numpy as np
import solvers
from solvers.multigrid import SMOOTHERS, cycle, smoothers
# the Gauss-Seidel cycle, and the kernels only a Chebyshev or an l1-Jacobi cycle calls
kernels = {{"gauss_seidel": cycle.VCYCLES[SMOOTHERS["gauss_seidel"]],
           "chebyshev": smoothers.chebyshev, "l1_jacobi": smoothers.l1_jacobi}}
steps = []
for smoother in sys.argv[1:]:
    solvers.warm_up("cg", np.float64, "amg", smoother=smoother)
    steps.append({{"compiled": sorted(name for name, kernel in kernels.items()
                                      if kernel.signatures),
                   "cached": sorted(name for name in SMOOTHERS
                                    if solvers.is_cached("cg", np.float64, "amg",
                                                         smoother=name))}})
print(json.dumps(steps))
"""


def test_an_amg_warm_up_compiles_its_own_smoother_only(tmp_path):
    environment = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    environment.pop("NUMBA_DISABLE_JIT", None)
    completed = subprocess.run(
        [sys.executable, "-c", _SMOOTHER_PROBE.format(root=str(ROOT)), "gauss_seidel",
         "chebyshev"], env=environment, capture_output=True, text=True, check=True,
        timeout=600)
    default, chebyshev = json.loads(completed.stdout.strip().splitlines()[-1])
    assert default == {"compiled": ["gauss_seidel"], "cached": ["gauss_seidel"]}
    assert chebyshev == {"compiled": ["chebyshev", "gauss_seidel"],
                         "cached": ["chebyshev", "gauss_seidel"]}


def test_is_cached_in_process_after_warm_up():
    for method in ("cg", "gmres"):
        result = solvers.warm_up(method, np.float64, "jacobi")
        assert isinstance(result, solvers.WarmUp)
        assert result.seconds >= 0.0
        assert solvers.is_cached(method, np.float64, "jacobi")
        assert solvers.warm_up(method, np.float64, "jacobi").compiled is False


def test_the_matrix_decides_the_variant():
    # 32-bit and 64-bit CSR indices are different compiled loops; float32 systems too.
    A = sp.csr_array(sp.diags_array([-np.ones(9), 3 * np.ones(10), -np.ones(9)],
                                    offsets=[-1, 0, 1], format="csr"))
    wide = A.copy()
    wide.indptr, wide.indices = A.indptr.astype(np.int64), A.indices.astype(np.int64)
    for matrix in (A, wide, A.astype(np.float32)):
        dtype = matrix.dtype
        solvers.warm_up("cg", dtype, "none", A=matrix)
        assert solvers.is_cached("cg", dtype, "none", A=matrix)
        assert solvers.warm_up("cg", dtype, "none", A=matrix).compiled is False
        # the solve that follows compiles nothing
        result = solvers.cg(matrix, np.ones(10, dtype=dtype))
        assert result.converged


def test_warm_up_leaves_solves_bit_for_bit_unchanged(model):
    A = model.laplacian_2d(12)
    b = np.linspace(1.0, 2.0, A.shape[0])
    before = solvers.cg(A, b, rtol=1e-10, M="ic0")
    solvers.warm_up("cg", np.float64, "ic0", A=A)
    after = solvers.cg(A, b, rtol=1e-10, M="ic0")
    assert np.array_equal(before.x, after.x)
    assert np.array_equal(before.residual_norms, after.residual_norms)


@pytest.mark.parametrize(("arguments", "error"), [
    (("bicgstab",), ValueError),
    (("cg", np.float64, "ilu7"), ValueError),
    (("cg", np.int64), ValueError),
])
def test_bad_arguments_are_named(arguments, error):
    with pytest.raises(error):
        solvers.warm_up(*arguments)
    with pytest.raises(error):
        solvers.is_cached(*arguments)


def test_an_unknown_smoother_is_named():
    for check in (solvers.warm_up, solvers.is_cached):
        with pytest.raises(ValueError, match="smoother must be one of 'gauss_seidel', "
                                             "'chebyshev', 'l1_jacobi' or None; got 'sor'"):
            check("cg", np.float64, "amg", smoother="sor")


def test_none_is_no_preconditioner():
    assert solvers.warm_up("cg", preconditioner=None).seconds >= 0.0
    assert solvers.is_cached("cg", preconditioner=None)
