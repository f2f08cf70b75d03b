import numpy as np


def conv_transpose2d_scatter(x, weight, stride, padding):
    """Build the matrix C^T column by column (one stamp per input pixel) and apply it."""
    if not isinstance(stride, (tuple, list)):
        stride = [stride] * 2
    if not isinstance(padding, (tuple, list)):
        padding = [padding] * 2

    H, W = x.shape
    kH, kW = weight.shape
    Hc = (H - 1) * stride[0] + kH
    Wc = (W - 1) * stride[1] + kW
    Hout = Hc - 2 * padding[0]
    Wout = Wc - 2 * padding[1]

    M = np.zeros((Hout * Wout, H * W))
    for col in range(H * W):
        i, j = divmod(col, W)
        stamp = np.zeros((Hc, Wc))
        stamp[i * stride[0]:i * stride[0] + kH, j * stride[1]:j * stride[1] + kW] = weight
        cropped = stamp[padding[0]:padding[0] + Hout, padding[1]:padding[1] + Wout]
        M[:, col] = cropped.reshape(-1)

    return (M @ x.reshape(-1)).reshape(Hout, Wout)
