"""Benchmark: tconv_lib's gemm view against torch.nn.functional.conv_transpose2d on the CPU.

Run with `python3 course.py bench` (or `python benchmarks/bench_conv_transpose.py`
inside the virtual environment).  Both libraries run in this one process, on the
same inputs, with the same number of threads; each timing is the best of
several repeats after a warm-up, in alternating blocks of one library each.
Prints one ratio per shape (ours / torch) and the median.
Targets (issue 2): median <= 1.5, no shape worse than 3.
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

# name: (N, C_in, C_out, H, W, kernel, stride, padding, output_padding)
SHAPES = {
    "image 1ch 256x256 k4 s2": (1, 1, 1, 256, 256, 4, 2, 1, 0),
    "unet 16x64->32 32x32 k3 s2 op1": (16, 64, 32, 32, 32, 3, 2, 1, 1),
    "unet 32x128->64 16x16 k2 s2": (32, 128, 64, 16, 16, 2, 2, 0, 0),
    "dcgan 64x512->256 4x4 k4 s2": (64, 512, 256, 4, 4, 4, 2, 1, 0),
    "dcgan 64x256->128 8x8 k4 s2": (64, 256, 128, 8, 8, 4, 2, 1, 0),
    "dcgan 64x128->3 32x32 k4 s2": (64, 128, 3, 32, 32, 4, 2, 1, 0),
    "stride1 8x64->64 32x32 k3 p1": (8, 64, 64, 32, 32, 3, 1, 1, 0),
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
    print(f"{'shape':34s} {'ours ms':>9s} {'torch ms':>9s} {'ratio':>7s}")
    ratios = []
    with threadpool_limits(limits=args.threads, user_api="blas"):
        for name, (n, c_in, c_out, h, w, k, s, p, op) in SHAPES.items():
            x = rng.standard_normal((n, c_in, h, w)).astype(dtype)
            weight = rng.standard_normal((c_in, c_out, k, k)).astype(dtype)
            xt, wt = torch.from_numpy(x), torch.from_numpy(weight)
            ours = tconv_lib.conv_transpose2d(x, weight, stride=s, padding=p, output_padding=op)
            theirs = F.conv_transpose2d(xt, wt, stride=s, padding=p, output_padding=op)
            scale = float(np.abs(theirs.numpy()).max())
            assert np.allclose(ours, theirs.numpy(), rtol=1e-3, atol=1e-4 * scale), name
            params = dict(stride=s, padding=p, output_padding=op)
            with torch.no_grad():
                t_ours, t_torch = best_times(
                    [
                        partial(tconv_lib.conv_transpose2d, x, weight, **params),
                        partial(F.conv_transpose2d, xt, wt, **params),
                    ],
                    args.repeats,
                )
            ratios.append(t_ours / t_torch)
            print(f"{name:34s} {t_ours * 1e3:9.2f} {t_torch * 1e3:9.2f} {ratios[-1]:7.2f}")
    print(f"\nmedian ratio (ours / torch): {statistics.median(ratios):.2f}   "
          f"worst: {max(ratios):.2f}   (targets: median <= 1.5, worst <= 3)")


if __name__ == "__main__":
    main()
