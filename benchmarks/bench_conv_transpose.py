"""Benchmark: tconv_lib.conv_transpose2d against torch.nn.functional.conv_transpose2d on the CPU.

Run with `python3 course.py bench` (or `python benchmarks/bench_conv_transpose.py`
inside the virtual environment).  Both libraries run in this one process, on the
same inputs, with the same number of threads; each timing is the best of
several repeats after a warm-up, in alternating blocks of one library each.
Prints, per shape, the view that conv_transpose2d uses (tconv_lib.fastest_view),
the ratio ours / torch, and the ratio of that view's matrix products alone
(OpenBLAS's sgemm through NumPy, same operand shapes and chunks) to torch's
whole operator: where that ratio is above 1, the product alone is slower than
torch and no reshuffling around it can close the gap.  Then the median and the
worst ratio.  Targets (issue 16): median <= 1.3, no shape worse than 2.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from threadpoolctl import threadpool_info, threadpool_limits

import tconv_lib
from tconv_lib import transposed
from tconv_lib._checks import transposed_args

# name: (N, C_in, C_out, H, W, kernel, stride, padding, output_padding, groups, dilation)
SHAPES = {
    "image 1ch 256x256 k4 s2": (1, 1, 1, 256, 256, 4, 2, 1, 0, 1, 1),
    "unet 16x64->32 32x32 k3 s2 op1": (16, 64, 32, 32, 32, 3, 2, 1, 1, 1, 1),
    "unet 32x128->64 16x16 k2 s2": (32, 128, 64, 16, 16, 2, 2, 0, 0, 1, 1),
    "dcgan 64x512->256 4x4 k4 s2": (64, 512, 256, 4, 4, 4, 2, 1, 0, 1, 1),
    "dcgan 64x256->128 8x8 k4 s2": (64, 256, 128, 8, 8, 4, 2, 1, 0, 1, 1),
    "dcgan 64x128->3 32x32 k4 s2": (64, 128, 3, 32, 32, 4, 2, 1, 0, 1, 1),
    "stride1 8x64->64 32x32 k3 p1": (8, 64, 64, 32, 32, 3, 1, 1, 0, 1, 1),
    "image 3ch 256x256 k4 s2": (1, 3, 3, 256, 256, 4, 2, 1, 0, 1, 1),
    "8ch 4x8->8 128x128 k4 s2": (4, 8, 8, 128, 128, 4, 2, 1, 0, 1, 1),
    "8ch 4x8->8 128x128 k3 s2 op1": (4, 8, 8, 128, 128, 3, 2, 1, 1, 1, 1),
    "3->16 128x128 k4 s2": (1, 3, 16, 128, 128, 4, 2, 1, 0, 1, 1),
    "grouped g4 8x64->64 32x32 k4 s2": (8, 64, 64, 32, 32, 4, 2, 1, 0, 4, 1),
    "dilated 8x64->64 32x32 k3 d2 p2": (8, 64, 64, 32, 32, 3, 1, 2, 0, 1, 2),
}


def best_times(fns, repeats: int, rounds: int = 2) -> list[float]:
    """Best time of each function over `rounds` blocks of `repeats` calls.

    Each block runs one library only: interleaving single calls makes torch's
    OpenMP threads and OpenBLAS's threads fight over the cores and slows both.
    Blocks alternate, so slow drift of the machine hits both libraries alike.
    """
    best = [float("inf")] * len(fns)
    for _ in range(rounds):
        for index, fn in enumerate(fns):
            fn()  # warm-up: allocations, thread pools, oneDNN kernel selection
            for _ in range(repeats):
                start = time.perf_counter()
                fn()
                best[index] = min(best[index], time.perf_counter() - start)
    return best


def products_alone(view: str, a, rng):
    """A function doing only the matrix products that `view` does for these arguments.

    Same operand shapes, memory layouts and chunks as the view, random values.
    """
    n, c_in, h_in, w_in = a.x.shape
    _, c_out_g, kh, kw = a.weight.shape
    g, c_in_g, dtype = a.groups, c_in // a.groups, a.x.dtype
    if view == "polyphase":
        kernels, _, _ = transposed._polyphase_kernels(a)
        (_, mh), (_, mw) = transposed._periods(a)
        chunk = transposed._polyphase_chunk(kernels, mh, mw)
        sizes = [min(chunk, n - start) for start in range(0, n, chunk)]
        cols = {b: rng.standard_normal((g, kernels.shape[2], b * mh * mw)).astype(dtype) for b in set(sizes)}
        return lambda: [np.matmul(kernels, cols[b]) for b in sizes]
    # gemm: (g, C_out/g kH kW, C_in/g) as a transposed view, times (g, C_in/g, N H W)
    taps = a.weight.reshape(g, c_in_g, c_out_g * kh * kw).transpose(0, 2, 1)
    pixels = rng.standard_normal((g, c_in_g, n * h_in * w_in)).astype(dtype)
    if c_in_g == 1:  # the view broadcasts an outer product instead of calling BLAS
        return lambda: taps * pixels
    return lambda: np.matmul(taps, pixels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    dtype = np.dtype(args.dtype)
    blas = ", ".join(f"{i['internal_api']} {i.get('version') or ''}".strip()
                     for i in threadpool_info() if i["user_api"] == "blas")
    print(f"torch {torch.__version__} ({torch.get_num_threads()} threads), numpy {np.__version__} "
          f"({blas}), {args.dtype}, best of {args.repeats}\n")
    print(f"{'shape':34s} {'view':>9s} {'ours ms':>9s} {'torch ms':>9s} {'ratio':>7s} {'product':>8s}")
    ratios, slow_products = [], []
    with threadpool_limits(limits=args.threads, user_api="blas"):
        for name, (n, c_in, c_out, h, w, k, s, p, op, groups, d) in SHAPES.items():
            x = rng.standard_normal((n, c_in, h, w)).astype(dtype)
            weight = rng.standard_normal((c_in, c_out // groups, k, k)).astype(dtype)
            xt, wt = torch.from_numpy(x), torch.from_numpy(weight)
            params = dict(stride=s, padding=p, output_padding=op, groups=groups, dilation=d)
            ours = tconv_lib.conv_transpose2d(x, weight, **params)
            theirs = F.conv_transpose2d(xt, wt, **params)
            scale = float(np.abs(theirs.numpy()).max())
            assert np.allclose(ours, theirs.numpy(), rtol=1e-3, atol=1e-4 * scale), name
            view = tconv_lib.fastest_view(x, weight, **params)
            a = transposed_args(x, weight, None, nd=2, fname=name, **params)
            with torch.no_grad():
                t_ours, t_torch, t_product = best_times(
                    [
                        partial(tconv_lib.conv_transpose2d, x, weight, **params),
                        partial(F.conv_transpose2d, xt, wt, **params),
                        products_alone(view, a, rng),
                    ],
                    args.repeats,
                )
            ratios.append(t_ours / t_torch)
            if t_product > t_torch:
                slow_products.append(f"{name} ({t_product / t_torch:.2f})")
            print(f"{name:34s} {view:>9s} {t_ours * 1e3:9.2f} {t_torch * 1e3:9.2f} {ratios[-1]:7.2f} "
                  f"{t_product / t_torch:8.2f}")
    print(f"\nmedian ratio (ours / torch): {statistics.median(ratios):.2f}   "
          f"worst: {max(ratios):.2f}   (targets: median <= 1.3, worst <= 2)")
    print("product: the view's matrix products alone / torch's whole operator; above 1 on: "
          + (", ".join(slow_products) or "no shape"))


if __name__ == "__main__":
    main()
