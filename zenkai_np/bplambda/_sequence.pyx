"""One BP(λ) sequence pass of the vanilla RNN in one ``nogil`` call (``rnn.py``).

The same sums as ``BPLambdaRNN._pass_sequence`` with the unrolled synthesiser
updates (``unrolled.py``), for the built-in MSE readout and a linear
synthesiser: forward (one GEMM for all input terms, one per step for the
recurrence), readout and its gradients at target steps, g(h_t), the TD errors
δ_t, the synthesiser's clipped updates and the RNN's one-step gradients.
Small GEMMs on the kernels' BLAS (``_blas.pxd``), elementwise loops here.

Inputs are validated in Python (``rnn.py``): dtypes, shapes, contiguity,
finiteness; every loop is bounded by those shapes.  Activation codes:
0 identity, 1 tanh, 2 ReLU, 3 sigmoid.
"""
from cython cimport floating
from libc.math cimport exp, isfinite, sqrt, tanh
from libc.string cimport memcpy, memset

from zenkai_np._blas cimport gemm_rm


def workspace_size(Py_ssize_t B, Py_ssize_t T, Py_ssize_t H, Py_ssize_t O):
    """Elements of the ``work`` buffer of ``rnn_sequence_grads``."""
    return 8 * T * B * H + B * O + B * H + H * H + H


cdef void _activate(int act, floating *c, floating *a, Py_ssize_t n) noexcept nogil:
    """h = f(c) in place, a = f'(c)."""
    cdef Py_ssize_t i
    cdef floating v, z, one = 1, zero = 0
    if act == 1:
        for i in range(n):
            v = <floating> tanh(c[i])
            c[i] = v
            a[i] = one - v * v
    elif act == 2:
        for i in range(n):
            if c[i] > 0:
                a[i] = one
            else:
                c[i] = zero
                a[i] = zero
    elif act == 3:
        for i in range(n):
            if c[i] >= 0:
                z = <floating> exp(-c[i])
                v = one / (one + z)
            else:
                z = <floating> exp(c[i])
                v = z / (one + z)
            c[i] = v
            a[i] = v * (one - v)


cdef void _colsum(const floating *M, Py_ssize_t rows, Py_ssize_t cols, floating alpha,
                  floating *out) noexcept nogil:
    """out (cols,) = alpha * column sums of M (rows, cols)."""
    cdef Py_ssize_t r, j
    for j in range(cols):
        out[j] = 0
    for r in range(rows):
        for j in range(cols):
            out[j] += M[r * cols + j]
    for j in range(cols):
        out[j] *= alpha


cdef void _forward(const floating *X, const floating *Y, const unsigned char *mask,
                   const floating *W_ih, const floating *W_hh, const floating *b,
                   const floating *W_out, const floating *b_out, Py_ssize_t B, Py_ssize_t T,
                   Py_ssize_t I, Py_ssize_t H, Py_ssize_t O, int act, floating *gW_out,
                   floating *gb_out, floating *Hs, floating *As, floating *L, floating *XW,
                   floating *E, double *sse, Py_ssize_t *n_targets) noexcept nogil:
    """h_t (Hs), f'(c_t) (As), l_t (L, 0 off target steps), readout gradients, Σ errors²."""
    cdef Py_ssize_t BH = B * H, TBH = T * B * H
    cdef floating *ht
    cdef Py_ssize_t t, bi, j, o
    cdef floating diff, fB = <floating> B
    cdef double acc_sse = 0
    cdef floating one = 1, zero = 0
    memset(gW_out, 0, H * O * sizeof(floating))
    memset(gb_out, 0, O * sizeof(floating))
    memset(L, 0, TBH * sizeof(floating))
    n_targets[0] = 0
    # c_t = (x_t W_ih + b) + h_{t−1} W_hh, h_t = f(c_t)
    gemm_rm(0, 0, <int> (B * T), <int> H, <int> I, one, X, <int> I, W_ih, <int> H, zero,
            XW, <int> H)
    for t in range(T):
        ht = Hs + t * BH
        for bi in range(B):
            for j in range(H):
                ht[bi * H + j] = XW[(bi * T + t) * H + j] + b[j]
        if t > 0:
            gemm_rm(0, 0, <int> B, <int> H, <int> H, one, ht - BH, <int> H, W_hh, <int> H,
                    one, ht, <int> H)
        if act != 0:
            _activate(act, ht, As + t * BH, BH)
        if not mask[t]:
            continue
        # readout at a target step: e = (ŷ − y)/B, l_t = e W_outᵀ
        for bi in range(B):
            for o in range(O):
                E[bi * O + o] = b_out[o]
        gemm_rm(0, 0, <int> B, <int> O, <int> H, one, ht, <int> H, W_out, <int> O, one, E,
                <int> O)
        for bi in range(B):
            for o in range(O):
                diff = E[bi * O + o] - Y[(bi * T + t) * O + o]
                acc_sse += <double> diff * diff
                E[bi * O + o] = diff / fB
        gemm_rm(1, 0, <int> H, <int> O, <int> B, one, ht, <int> H, E, <int> O, one, gW_out,
                <int> O)
        for bi in range(B):
            for o in range(O):
                gb_out[o] += E[bi * O + o]
        gemm_rm(0, 1, <int> B, <int> H, <int> O, one, E, <int> O, W_out, <int> O, zero,
                L + t * BH, <int> H)
        n_targets[0] += 1
    sse[0] = acc_sse


cdef Py_ssize_t _pass(const floating *X, const floating *Y, const unsigned char *mask,
                      const floating *W_ih, const floating *W_hh, const floating *b,
                      const floating *W_out, const floating *b_out, const floating *sW,
                      const floating *sb, Py_ssize_t B, Py_ssize_t T, Py_ssize_t I,
                      Py_ssize_t H, Py_ssize_t O, int act, floating gamma, floating decay,
                      floating sgw, double clip, floating *gW_ih, floating *gW_hh,
                      floating *gb, floating *gW_out, floating *gb_out, floating *gsW,
                      floating *gsb, floating *work, double *sse,
                      Py_ssize_t *n_targets) noexcept nogil:
    """Returns −1, or the first trace step whose update is not finite."""
    cdef Py_ssize_t BH = B * H, TBH = T * B * H, n = T - 1
    cdef floating *Hs = work
    cdef floating *As = Hs + TBH
    cdef floating *L = As + TBH
    cdef floating *G = L + TBH
    cdef floating *Q = G + TBH
    cdef floating *Dl = Q + TBH
    cdef floating *Cb = Dl + TBH
    cdef floating *XW = Cb + TBH
    cdef floating *E = XW + TBH
    cdef floating *tmp = E + B * O
    cdef floating *dW = tmp + BH
    cdef floating *db = dW + H * H
    cdef const floating *src
    cdef Py_ssize_t t, j, r, k, s, lo
    cdef floating scale = 1 / <floating> B
    cdef double nw, nb, fw, fb
    cdef floating one = 1, zero = 0

    memset(gsW, 0, H * H * sizeof(floating))
    memset(gsb, 0, H * sizeof(floating))
    memset(gW_ih, 0, I * H * sizeof(floating))
    memset(gW_hh, 0, H * H * sizeof(floating))
    _forward(X, Y, mask, W_ih, W_hh, b, W_out, b_out, B, T, I, H, O, act, gW_out, gb_out, Hs,
             As, L, XW, E, sse, n_targets)

    # g(h_t) for t < T−1 (0 at the last step)
    for r in range(n * B):
        for j in range(H):
            G[r * H + j] = sb[j]
    if n > 0:
        gemm_rm(0, 0, <int> (n * B), <int> H, <int> H, one, Hs, <int> H, sW, <int> H, one, G,
                <int> H)
    memset(G + n * BH, 0, BH * sizeof(floating))

    # δ_{t−1} = (l_t + γ g_t)(⊙ f'_t) W_hhᵀ − g_{t−1}
    for r in range(n * BH):
        Q[r] = L[BH + r] + gamma * G[BH + r]
        Dl[r] = -G[r]
    if act != 0:
        for r in range(n * BH):
            Q[r] = Q[r] * As[BH + r]
    if n > 0:
        gemm_rm(0, 1, <int> (n * B), <int> H, <int> H, one, Q, <int> H, W_hh, <int> H, one,
                Dl, <int> H)

    # synthesiser: −Σ_k clip₁(dΘ_k), dΘ_k from the chain c_{k,s} (unrolled.py)
    for k in range(n):
        memcpy(Cb + k * BH, Dl + k * BH, BH * sizeof(floating))
        lo = k
        if decay != 0:
            for s in range(k - 1, -1, -1):
                src = Cb + (s + 1) * BH
                if act != 0:
                    for r in range(BH):
                        tmp[r] = Cb[(s + 1) * BH + r] * As[(s + 1) * BH + r]
                    src = tmp
                gemm_rm(0, 1, <int> B, <int> H, <int> H, decay, src, <int> H, W_hh, <int> H,
                        zero, Cb + s * BH, <int> H)
            lo = 0
        gemm_rm(1, 0, <int> H, <int> H, <int> ((k - lo + 1) * B), scale, Hs + lo * BH,
                <int> H, Cb + lo * BH, <int> H, zero, dW, <int> H)
        _colsum(Cb + lo * BH, (k - lo + 1) * B, H, scale, db)
        nw = 0
        nb = 0
        for r in range(H * H):
            nw += <double> dW[r] * dW[r]
        for j in range(H):
            nb += <double> db[j] * db[j]
        if not (isfinite(nw) and isfinite(nb)):
            return k
        fw = clip / sqrt(nw) if clip > 0 and sqrt(nw) > clip else 1.0
        fb = clip / sqrt(nb) if clip > 0 and sqrt(nb) > clip else 1.0
        for r in range(H * H):
            gsW[r] -= <floating> fw * dW[r]
        for j in range(H):
            gsb[j] -= <floating> fb * db[j]

    # the RNN's one-step rule: q_t = (l_t + sg_weight g_t)(⊙ f'_t)
    for r in range(TBH):
        Q[r] = L[r] + sgw * G[r]
    if act != 0:
        for r in range(TBH):
            Q[r] = Q[r] * As[r]
    if n > 0:
        gemm_rm(1, 0, <int> H, <int> H, <int> (n * B), one, Hs, <int> H, Q + BH, <int> H,
                zero, gW_hh, <int> H)
    for t in range(T):
        gemm_rm(1, 0, <int> I, <int> H, <int> B, one, X + t * I, <int> (T * I), Q + t * BH,
                <int> H, one, gW_ih, <int> H)
    _colsum(Q, T * B, H, one, gb)
    return -1


cdef _check_shapes(const floating[:, :, ::1] X, const floating[:, :, ::1] Y,
                   const unsigned char[::1] mask, const floating[:, ::1] W_ih,
                   const floating[:, ::1] W_hh, const floating[::1] b,
                   const floating[:, ::1] W_out, const floating[::1] b_out,
                   const floating[:, ::1] sW, const floating[::1] sb,
                   floating[:, ::1] gW_ih, floating[:, ::1] gW_hh, floating[::1] gb,
                   floating[:, ::1] gW_out, floating[::1] gb_out, floating[:, ::1] gsW,
                   floating[::1] gsb, floating[::1] work, int act):
    cdef Py_ssize_t B = X.shape[0], T = X.shape[1], I = X.shape[2]
    cdef Py_ssize_t H = W_hh.shape[0], O = W_out.shape[1]
    if (Y.shape[0] != B or Y.shape[1] != T or Y.shape[2] != O or mask.shape[0] != T
            or W_ih.shape[0] != I or W_ih.shape[1] != H or W_hh.shape[1] != H
            or b.shape[0] != H or W_out.shape[0] != H or b_out.shape[0] != O
            or sW.shape[0] != H or sW.shape[1] != H or sb.shape[0] != H
            or gW_ih.shape[0] != I or gW_ih.shape[1] != H or gW_hh.shape[0] != H
            or gW_hh.shape[1] != H or gb.shape[0] != H or gW_out.shape[0] != H
            or gW_out.shape[1] != O or gb_out.shape[0] != O or gsW.shape[0] != H
            or gsW.shape[1] != H or gsb.shape[0] != H):
        raise ValueError("sequence pass: shapes do not match")
    if work.shape[0] < workspace_size(B, T, H, O):
        raise ValueError("sequence pass: work buffer too small")
    if act < 0 or act > 3:
        raise ValueError(f"act: expected 0..3, got {act}")


cdef void _window_synth(const floating *h, const floating *sW, const floating *sb,
                        Py_ssize_t B, Py_ssize_t H, floating *out) noexcept nogil:
    """out (B, H) = h @ sW + sb (h NULL: the state h_{−1} = 0)."""
    cdef Py_ssize_t bi, j
    cdef floating one = 1
    for bi in range(B):
        for j in range(H):
            out[bi * H + j] = sb[j]
    if h != NULL:
        gemm_rm(0, 0, <int> B, <int> H, <int> H, one, h, <int> H, sW, <int> H, one, out,
                <int> H)


cdef void _bptt(const floating *X, const floating *Y, const unsigned char *mask,
                const floating *W_ih, const floating *W_hh, const floating *b,
                const floating *W_out, const floating *b_out, const floating *sW,
                const floating *sb, Py_ssize_t B, Py_ssize_t T, Py_ssize_t I, Py_ssize_t H,
                Py_ssize_t O, int act, Py_ssize_t trunc, bint synth, bint sg_last,
                floating sgw, floating *gW_ih, floating *gW_hh, floating *gb,
                floating *gW_out, floating *gb_out, floating *gsW, floating *gsb,
                floating *work, double *sse, Py_ssize_t *n_targets) noexcept nogil:
    """Truncated BPTT(n) (trunc 0: full) and, with ``synth``, DNI(n): baselines.py's windows
    (the remainder first), the synthetic gradient at window ends and its regression."""
    cdef Py_ssize_t BH = B * H, TBH = T * B * H
    cdef floating *Hs = work
    cdef floating *As = Hs + TBH
    cdef floating *L = As + TBH
    cdef floating *dh = L + TBH
    cdef floating *q = dh + BH
    cdef floating *g = q + BH
    cdef floating *XW = work + 7 * TBH
    cdef floating *E = XW + TBH
    cdef Py_ssize_t n = trunc if 0 < trunc < T else T
    cdef Py_ssize_t rem = T % n, n_win = T // n + (1 if rem else 0)
    cdef Py_ssize_t w, s, e, t, r, j
    cdef floating one = 1, zero = 0, fB = <floating> B
    memset(gW_ih, 0, I * H * sizeof(floating))
    memset(gW_hh, 0, H * H * sizeof(floating))
    memset(gb, 0, H * sizeof(floating))
    memset(gsW, 0, H * H * sizeof(floating))
    memset(gsb, 0, H * sizeof(floating))
    _forward(X, Y, mask, W_ih, W_hh, b, W_out, b_out, B, T, I, H, O, act, gW_out, gb_out, Hs,
             As, L, XW, E, sse, n_targets)
    for w in range(n_win):
        if rem and w == 0:
            s, e = 0, rem
        else:
            s = rem + (w - (1 if rem else 0)) * n
            e = s + n
        # the gradient at h_{e−1} from beyond the window: 0, or sg_weight · g(h_{e−1})
        if synth and (sg_last or w < n_win - 1):
            _window_synth(Hs + (e - 1) * BH, sW, sb, B, H, dh)
            for r in range(BH):
                dh[r] = sgw * dh[r]
        else:
            memset(dh, 0, BH * sizeof(floating))
        for t in range(e - 1, s - 1, -1):
            for r in range(BH):
                dh[r] = dh[r] + L[t * BH + r]
            if act != 0:
                for r in range(BH):
                    q[r] = dh[r] * As[t * BH + r]
            else:
                memcpy(q, dh, BH * sizeof(floating))
            if t > 0:
                gemm_rm(1, 0, <int> H, <int> H, <int> B, one, Hs + (t - 1) * BH, <int> H, q,
                        <int> H, one, gW_hh, <int> H)
            gemm_rm(1, 0, <int> I, <int> H, <int> B, one, X + t * I, <int> (T * I), q,
                    <int> H, one, gW_ih, <int> H)
            for r in range(B):
                for j in range(H):
                    gb[j] += q[r * H + j]
            gemm_rm(0, 1, <int> B, <int> H, <int> H, one, q, <int> H, W_hh, <int> H, zero,
                    dh, <int> H)
        # regress g(h_{s−1}) on the gradient arriving there (mean over the batch)
        if synth and s >= 1:
            _window_synth(Hs + (s - 1) * BH, sW, sb, B, H, g)
            for r in range(BH):
                g[r] = (g[r] - dh[r]) / fB
            gemm_rm(1, 0, <int> H, <int> H, <int> B, one, Hs + (s - 1) * BH, <int> H, g,
                    <int> H, one, gsW, <int> H)
            for r in range(B):
                for j in range(H):
                    gsb[j] += g[r * H + j]


def rnn_bptt_grads(const floating[:, :, ::1] X, const floating[:, :, ::1] Y,
                   const unsigned char[::1] mask, const floating[:, ::1] W_ih,
                   const floating[:, ::1] W_hh, const floating[::1] b,
                   const floating[:, ::1] W_out, const floating[::1] b_out,
                   const floating[:, ::1] sW, const floating[::1] sb, int act,
                   Py_ssize_t truncation, bint synth, bint sg_last_window, double sg_weight,
                   floating[:, ::1] gW_ih, floating[:, ::1] gW_hh, floating[::1] gb,
                   floating[:, ::1] gW_out, floating[::1] gb_out, floating[:, ::1] gsW,
                   floating[::1] gsb, floating[::1] work):
    """Full/truncated BPTT (``truncation`` 0: full) or DNI (``synth``) gradients of one
    batch into the ``g*`` buffers (overwritten; the synthesiser's stay 0 without ``synth``).

    Shapes as ``rnn_sequence_grads``. Returns ``(sum of squared readout errors, number of
    target steps)``.
    """
    cdef Py_ssize_t B = X.shape[0], T = X.shape[1], I = X.shape[2]
    cdef Py_ssize_t H = W_hh.shape[0], O = W_out.shape[1]
    _check_shapes(X, Y, mask, W_ih, W_hh, b, W_out, b_out, sW, sb, gW_ih, gW_hh, gb, gW_out,
                  gb_out, gsW, gsb, work, act)
    if truncation < 0:
        raise ValueError(f"truncation: expected >= 0, got {truncation}")
    cdef double sse = 0
    cdef Py_ssize_t nt = 0
    with nogil:
        _bptt(&X[0, 0, 0], &Y[0, 0, 0], &mask[0], &W_ih[0, 0], &W_hh[0, 0], &b[0],
              &W_out[0, 0], &b_out[0], &sW[0, 0], &sb[0], B, T, I, H, O, act, truncation,
              synth, sg_last_window, <floating> sg_weight, &gW_ih[0, 0], &gW_hh[0, 0], &gb[0],
              &gW_out[0, 0], &gb_out[0], &gsW[0, 0], &gsb[0], &work[0], &sse, &nt)
    return sse, nt


def rnn_sequence_grads(const floating[:, :, ::1] X, const floating[:, :, ::1] Y,
                       const unsigned char[::1] mask, const floating[:, ::1] W_ih,
                       const floating[:, ::1] W_hh, const floating[::1] b,
                       const floating[:, ::1] W_out, const floating[::1] b_out,
                       const floating[:, ::1] sW, const floating[::1] sb, int act,
                       double gamma, double decay, double sg_weight, double clip,
                       floating[:, ::1] gW_ih, floating[:, ::1] gW_hh, floating[::1] gb,
                       floating[:, ::1] gW_out, floating[::1] gb_out, floating[:, ::1] gsW,
                       floating[::1] gsb, floating[::1] work):
    """Gradients of one sequence batch into the ``g*`` buffers (overwritten).

    X (B, T, I), Y (B, T, O), mask (T,) uint8; weights as ``VanillaRNN.params``;
    the linear synthesiser sW (H, H), sb (H,); ``clip`` ≤ 0: no clip.
    Returns ``(sum of squared readout errors, number of target steps, bad)``,
    ``bad`` −1 or the first trace step whose update is not finite.
    """
    cdef Py_ssize_t B = X.shape[0], T = X.shape[1], I = X.shape[2]
    cdef Py_ssize_t H = W_hh.shape[0], O = W_out.shape[1]
    _check_shapes(X, Y, mask, W_ih, W_hh, b, W_out, b_out, sW, sb, gW_ih, gW_hh, gb, gW_out,
                  gb_out, gsW, gsb, work, act)
    cdef double sse = 0
    cdef Py_ssize_t nt = 0, bad
    with nogil:
        bad = _pass(&X[0, 0, 0], &Y[0, 0, 0], &mask[0], &W_ih[0, 0], &W_hh[0, 0], &b[0],
                    &W_out[0, 0], &b_out[0], &sW[0, 0], &sb[0], B, T, I, H, O, act,
                    <floating> gamma, <floating> decay, <floating> sg_weight, clip,
                    &gW_ih[0, 0], &gW_hh[0, 0], &gb[0], &gW_out[0, 0], &gb_out[0],
                    &gsW[0, 0], &gsb[0], &work[0], &sse, &nt)
    return sse, nt, bad
