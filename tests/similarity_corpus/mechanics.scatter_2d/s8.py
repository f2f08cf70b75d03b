import numpy as np


def conv_transpose2d_scatter(x, weight, stride, padding):
    if isinstance(stride, int):
        stride_rows = stride_cols = stride
    else:
        stride_rows, stride_cols = stride
    if isinstance(padding, int):
        pad_rows = pad_cols = padding
    else:
        pad_rows, pad_cols = padding

    img = x.tolist()
    ker = weight.tolist()
    n_h, n_w = len(img), len(img[0])
    k_h, k_w = len(ker), len(ker[0])
    H_out = (n_h - 1) * stride_rows - 2 * pad_rows + k_h
    W_out = (n_w - 1) * stride_cols - 2 * pad_cols + k_w

    result = [[0.0] * W_out for _ in range(H_out)]
    for i, row in enumerate(img):
        for j, value in enumerate(row):
            if value == 0:
                continue
            for a, krow in enumerate(ker):
                y = i * stride_rows + a - pad_rows
                if not 0 <= y < H_out:
                    continue
                line = result[y]
                for b, kval in enumerate(krow):
                    xx = j * stride_cols + b - pad_cols
                    if 0 <= xx < W_out:
                        line[xx] += value * kval
    return np.array(result, dtype=float).reshape(H_out, W_out)
