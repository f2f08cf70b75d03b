import numpy as np


def resize_conv(x, weight, kernel_size, stride, padding=0, output_padding=0):
    n_rows, n_cols = x.shape
    kr, kc = weight.shape
    s = stride

    P_r = kernel_size - 1 + output_padding - 2 * padding - s + kr
    P_c = kernel_size - 1 + output_padding - 2 * padding - s + kc
    top = (P_r - output_padding + 1) // 2      # ceil of half
    left = (P_c - output_padding + 1) // 2

    out_rows = n_rows * s + P_r - kr + 1
    out_cols = n_cols * s + P_c - kc + 1
    result = np.zeros((out_rows, out_cols))

    # no upsampled array at all: pixel (u, v) of the upsampled image is x[u // s, v // s]
    for i in range(out_rows):
        for j in range(out_cols):
            total = 0.0
            for a in range(kr):
                u = i + a - top
                if u < 0 or u >= n_rows * s:
                    continue
                for b in range(kc):
                    v = j + b - left
                    if 0 <= v < n_cols * s:
                        total += weight[a, b] * x[u // s, v // s]
            result[i, j] = total
    return result
