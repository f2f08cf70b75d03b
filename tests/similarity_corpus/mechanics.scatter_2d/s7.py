import numpy as np


def conv_transpose2d_scatter(x, weight, stride, padding):
    s = (stride, stride) if type(stride) is int else stride
    p = (padding, padding) if type(padding) is int else padding
    h, w = x.shape
    kh, kw = weight.shape
    canvas_shape = ((h - 1) * s[0] + kh, (w - 1) * s[1] + kw)

    # all products x[i,j] * w[a,b] at once
    prods = np.einsum("ij,ab->ijab", x, weight)

    # flat canvas index of each product
    r = (np.arange(h) * s[0])[:, None] + np.arange(kh)[None, :]   # (h, kh)
    c = (np.arange(w) * s[1])[:, None] + np.arange(kw)[None, :]   # (w, kw)
    flat = r[:, None, :, None] * canvas_shape[1] + c[None, :, None, :]

    total = np.bincount(flat.ravel(), weights=prods.ravel(),
                        minlength=canvas_shape[0] * canvas_shape[1])
    canvas = total.reshape(canvas_shape)

    top, left = p
    bottom = canvas_shape[0] - p[0]
    right = canvas_shape[1] - p[1]
    return canvas[top:bottom, left:right]
