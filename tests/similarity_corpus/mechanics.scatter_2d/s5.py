import numpy as np


def conv_transpose2d_scatter(x, weight, stride, padding):
    # Gather version: walk over the output and collect every stamp that covers it.
    try:
        sy, sx = stride
    except TypeError:
        sy = sx = stride
    try:
        py, px = padding
    except TypeError:
        py = px = padding

    in_h, in_w = x.shape
    k_h, k_w = weight.shape
    out_h = (in_h - 1) * sy - 2 * py + k_h
    out_w = (in_w - 1) * sx - 2 * px + k_w
    y = np.zeros((out_h, out_w))

    for u in range(out_h):
        cu = u + py  # position on the uncropped canvas
        for v in range(out_w):
            cv = v + px
            acc = 0.0
            for i in range(in_h):
                a = cu - i * sy
                if a < 0 or a >= k_h:
                    continue
                for j in range(in_w):
                    b = cv - j * sx
                    if 0 <= b < k_w:
                        acc += x[i, j] * weight[a, b]
            y[u, v] = acc
    return y
