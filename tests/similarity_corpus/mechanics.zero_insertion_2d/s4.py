import numpy as np


def zero_insert(x, stride):
    s = np.broadcast_to(np.asarray(stride), (2,))
    sH, sW = int(s[0]), int(s[1])
    H, W = x.shape
    # interleave zeros with a reshape: (H, 1, W, 1) * one-hot (1, sH, 1, sW)
    onehot = np.zeros((1, sH, 1, sW))
    onehot[0, 0, 0, 0] = 1
    big = (x[:, None, :, None] * onehot).reshape(H * sH, W * sW)
    return big[:(H - 1) * sH + 1, :(W - 1) * sW + 1]


def conv_transpose2d_zero_insertion(x, weight, stride, padding):
    p = np.broadcast_to(np.asarray(padding), (2,))
    pH, pW = int(p[0]), int(p[1])
    kH, kW = weight.shape

    xu = zero_insert(x, stride)
    xp = np.pad(xu, ((kH - 1, kH - 1), (kW - 1, kW - 1)))
    Ho = xp.shape[0] - kH + 1
    Wo = xp.shape[1] - kW + 1

    # im2col: one row per output position, one column per kernel tap
    rr = np.arange(Ho)[:, None, None, None] + np.arange(kH)[None, None, :, None]
    cc = np.arange(Wo)[None, :, None, None] + np.arange(kW)[None, None, None, :]
    cols = xp[rr, cc].reshape(Ho * Wo, kH * kW)

    wflip = weight[::-1, ::-1].reshape(-1)
    y = (cols @ wflip).reshape(Ho, Wo)
    return y[pH:Ho - pH, pW:Wo - pW]
