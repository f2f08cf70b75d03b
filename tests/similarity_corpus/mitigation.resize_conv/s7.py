import numpy as np


def resize_conv(x, weight, kernel_size, stride, padding=0, output_padding=0):
    # Everything is linear along each axis, so write each step as a matrix:
    #   upsampling U (n*s x n):       U[u, u // s] = 1
    #   tap a with the padding/crop:  T_a (n_out x n*s), T_a[m, m + a - before] = 1 where valid
    # and out = sum_ab weight[a, b] * (T_a U) x (T_b U)^T.
    def axis_matrices(n, K):
        s = stride
        P = (kernel_size - 1) + output_padding - 2 * padding - s + K
        before = -((-(P - output_padding)) // 2)
        n_up = n * s
        n_out = n_up + P - K + 1
        U = np.zeros((n_up, n))
        U[np.arange(n_up), np.arange(n_up) // s] = 1.0
        mats = []
        for a in range(K):
            T = np.zeros((n_out, n_up))
            for m in range(n_out):
                src = m + a - before
                if 0 <= src < n_up:
                    T[m, src] = 1.0
            mats.append(T @ U)
        return mats

    rows = axis_matrices(x.shape[0], weight.shape[0])
    cols = axis_matrices(x.shape[1], weight.shape[1])
    out = 0.0
    for a, R in enumerate(rows):
        for b, C in enumerate(cols):
            out = out + weight[a, b] * (R @ x @ C.T)
    return out
