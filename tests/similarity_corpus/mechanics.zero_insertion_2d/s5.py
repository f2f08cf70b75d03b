import numpy as np


def zero_insert(x, stride):
    try:
        s_rows, s_cols = stride
    except TypeError:
        s_rows = s_cols = stride
    out = np.array(x, dtype=float)
    # one zero row before every original row but the first, s-1 times over;
    # after t rounds the original rows sit t+1 apart
    for t in range(s_rows - 1):
        out = np.insert(out, np.arange(1, x.shape[0]) * (t + 1), 0.0, axis=0)
    for t in range(s_cols - 1):
        out = np.insert(out, np.arange(1, x.shape[1]) * (t + 1), 0.0, axis=1)
    return out


def conv_transpose2d_zero_insertion(x, weight, stride, padding):
    try:
        p_rows, p_cols = padding
    except TypeError:
        p_rows = p_cols = padding
    k_rows, k_cols = weight.shape

    up = zero_insert(x, stride)
    # The chapter's recipe: pad k-1-p and crop nothing; if p > k-1 that would be
    # negative padding, so pad 0 and crop the rest instead.
    pad_r = max(k_rows - 1 - p_rows, 0)
    pad_c = max(k_cols - 1 - p_cols, 0)
    crop_r = max(p_rows - (k_rows - 1), 0)
    crop_c = max(p_cols - (k_cols - 1), 0)
    up = np.pad(up, ((pad_r, pad_r), (pad_c, pad_c)))
    if crop_r:
        up = up[crop_r:-crop_r, :]
    if crop_c:
        up = up[:, crop_c:-crop_c]

    kernel = weight[::-1, ::-1]
    h_out = up.shape[0] - k_rows + 1
    w_out = up.shape[1] - k_cols + 1
    result = np.zeros((h_out, w_out))
    for i in range(h_out):
        for j in range(w_out):
            result[i, j] = (up[i:i + k_rows, j:j + k_cols] * kernel).sum()
    return result
