"""CasADi functions called through their evaluation buffers: the aging loop's per-step calls without DM conversion.

Calling a ``casadi.Function`` from Python converts every argument to a ``DM`` and the result back (~30 us a call);
for the SPM's right-hand side that is three quarters of the call (~40 us against ~8 us through the buffer). A life
makes four such calls per step (consistent initialisation, state hand-over, event identification, reads), so the
loop around the integration keeps preallocated arrays bound to the function's buffer (``Function.buffer``) and
copies the arguments in. The evaluation is the same, bit for bit.
"""

from __future__ import annotations

import casadi
import numpy as np


class BufferedFunction:
    """``function(*args)`` with numeric arguments: its first output as a dense array (1-D for a column,
    2-D for a matrix such as a Jacobian).

    Arguments must be dense (as a model's time, states and stacked inputs are); a function with a
    sparse argument is called the usual way."""

    def __init__(self, function: casadi.Function):
        self.function = function
        output = function.sparsity_out(0)
        self._shape = (output.size1(),) if output.size2() == 1 else (output.size1(), output.size2())
        rows, columns = output.get_triplet()
        self._where = None if output.is_dense() and output.size2() == 1 else (np.asarray(rows, dtype=int), np.asarray(columns, dtype=int))
        if not all(function.sparsity_in(i).is_dense() for i in range(function.n_in())):
            self._buffer = None
            return
        self._args = [np.zeros(function.nnz_in(i)) for i in range(function.n_in())]
        self._outs = [np.zeros(function.nnz_out(i)) for i in range(function.n_out())]
        self._buffer, self._evaluate = function.buffer()
        for index, array in enumerate(self._args):
            self._buffer.set_arg(index, memoryview(array))
        for index, array in enumerate(self._outs):
            self._buffer.set_res(index, memoryview(array))

    def __call__(self, *args) -> np.ndarray:
        if self._buffer is None:
            return np.asarray(self.function(*args).full(), dtype=float).reshape(self._shape)
        for array, value in zip(self._args, args, strict=True):
            array[:] = np.ravel(value)
        self._evaluate()
        if self._where is None:
            return self._outs[0].copy()
        dense = np.zeros(self._shape[0] * (self._shape[1] if len(self._shape) == 2 else 1))
        rows, columns = self._where
        dense[rows + self._shape[0] * columns] = self._outs[0]  # CasADi stores column-major
        return dense.reshape(self._shape, order="F")
