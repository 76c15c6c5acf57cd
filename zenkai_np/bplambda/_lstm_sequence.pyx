"""The LSTM's whole-sequence passes, each one ``nogil`` call (``lstm.py``, ``lstm_baselines.py``).

``lstm_sequence_grads``: the same sums as ``BPLambdaLSTM._pass`` with unrolled
traces (``unrolled.py``, ``LSTM.state_vjp``), for the built-in readout (losses:
0 MSE, 1 softmax cross-entropy, 2 sigmoid BCE) and a linear synthesiser on the
state ``s_t = [h_t, c_t]`` (S = 2H): forward (one GEMM for all input terms, one
per step for the recurrence), readout and its gradients at target steps,
g(s_t), the TD errors δ_t, the synthesiser's clipped updates and the LSTM's
one-step gradients. ``lstm_bptt_grads``: the same forward, then the backward
windows of full/truncated BPTT and DNI (``lstm_baselines.py``). Gates
(i, f, g, o) are stacked as in ``LSTM.params`` (F = 4H). Small GEMMs on the kernels'
BLAS (``_blas.pxd``), elementwise loops here; the cell's loop in C (below).

Inputs are validated in Python (``lstm.py``, ``lstm_baselines.py``, through
``check_sequences``): dtypes, shapes, finiteness; contiguity and the shapes are
checked again here and every loop is bounded by them.
"""
from cython cimport floating
from libc.math cimport exp, expf, fabs, isfinite, log, log1p, sqrt
from libc.string cimport memset

from zenkai_np._blas cimport gemm_rm


def workspace_size(Py_ssize_t B, Py_ssize_t T, Py_ssize_t I, Py_ssize_t H, Py_ssize_t O):
    """Elements of the ``work`` buffer of ``lstm_sequence_grads`` and ``lstm_bptt_grads``."""
    cdef Py_ssize_t S = 2 * H, F = 4 * H, n = T - 1
    return (T * B * (2 * S + F + 2 * H + I + F) + n * B * (2 * S + H) + n * S * S + n * S
            + B * O + S + H + 2 * B * S)


cdef extern from *:
    """
    /* The LSTM cell's exp, sigmoid and tanh as plain arithmetic, so that the
       elementwise loop vectorises (libm's scalar tanh was half of the pass).
       expm1(x) for x <= 0: x = k ln2 + r (|r| <= ln2/2, k by the 1.5*2^p rounding
       trick), expm1(r) by its Taylor polynomial, 2^k from exponent bits, and
       2^k expm1(r) + (2^k - 1) (relatively accurate near 0, so tanh is too);
       arguments below the normal range are clamped (exp ~ 1e-308 / 1e-38).
       no-trapping-math (not fast-math: the same results) lets GCC if-convert the
       selects; with trapping math it keeps them as branches and does not vectorise. */
    #include <stdint.h>
    #include <string.h>
    #pragma GCC push_options
    #pragma GCC optimize ("no-trapping-math")

    static inline double zk_expm1n_d(double x) {
        x = x < -708.0 ? -708.0 : x;
        double t = x * 1.4426950408889634 + 6755399441055744.0;
        double kd = t - 6755399441055744.0;
        double r = (x - kd * 6.93147180369123816490e-01) - kd * 1.90821492927058770002e-10;
        double p = 1.6059043836821613e-10;
        p = p * r + 2.08767569878681e-09;
        p = p * r + 2.505210838544172e-08;
        p = p * r + 2.755731922398589e-07;
        p = p * r + 2.7557319223985893e-06;
        p = p * r + 2.48015873015873e-05;
        p = p * r + 1.984126984126984e-04;
        p = p * r + 1.388888888888889e-03;
        p = p * r + 8.333333333333333e-03;
        p = p * r + 4.1666666666666664e-02;
        p = p * r + 1.6666666666666666e-01;
        p = p * r + 0.5;
        p = p * r + 1.0;
        p = p * r;                                   /* expm1(r) */
        uint64_t bits;
        memcpy(&bits, &t, sizeof bits);
        uint64_t sb = (bits - 0x4338000000000000ULL + 1023ULL) << 52;
        double s;
        memcpy(&s, &sb, sizeof s);
        return s * p + (s - 1.0);                    /* 2^k - 1 is exact for k <= 0 */
    }
    static inline double zk_expn_d(double x) { return zk_expm1n_d(x) + 1.0; }

    static inline float zk_expm1n_f(float x) {
        x = x < -87.0f ? -87.0f : x;
        float t = x * 1.44269504088896341f + 12582912.0f;
        float kd = t - 12582912.0f;
        float r = (x - kd * 0.693145751953125f) - kd * 1.428606765330187045e-06f;
        float p = 1.9841270e-04f;
        p = p * r + 1.3888889e-03f;
        p = p * r + 8.3333333e-03f;
        p = p * r + 4.1666667e-02f;
        p = p * r + 1.6666667e-01f;
        p = p * r + 0.5f;
        p = p * r + 1.0f;
        p = p * r;
        uint32_t bits;
        memcpy(&bits, &t, sizeof bits);
        uint32_t sb = (bits - 0x4B400000u + 127u) << 23;
        float s;
        memcpy(&s, &sb, sizeof s);
        return s * p + (s - 1.0f);
    }
    static inline float zk_expn_f(float x) { return zk_expm1n_f(x) + 1.0f; }

    #define ZK_SIG_TANH(T, SUF)                                                         \
    static inline T zk_sig_##SUF(T x) {                                                 \
        T e = zk_expn_##SUF(x < 0 ? x : -x), q = (T)1 / ((T)1 + e);                     \
        return x >= 0 ? q : e * q;                                                      \
    }                                                                                   \
    static inline T zk_tanh_##SUF(T x) {                                                \
        T m = zk_expm1n_##SUF((T)-2 * (x < 0 ? -x : x)), q = -m / ((T)2 + m);          \
        return x >= 0 ? q : -q;                                                         \
    }
    #define ZK_CELL_LOOP(SUF, CP)                                                       \
        _Pragma("omp simd")                                                             \
        for (Py_ssize_t j = 0; j < H; ++j) {                                            \
            __typeof__(*zb) ig = zk_sig_##SUF(zb[j]), fg = zk_sig_##SUF(zb[H + j]);     \
            __typeof__(*zb) gg = zk_tanh_##SUF(zb[2 * H + j]);                          \
            __typeof__(*zb) og = zk_sig_##SUF(zb[3 * H + j]);                           \
            __typeof__(*zb) cv = fg * (CP) + ig * gg, tv = zk_tanh_##SUF(cv);           \
            zb[j] = ig; zb[H + j] = fg; zb[2 * H + j] = gg; zb[3 * H + j] = og;         \
            cb[j] = cv; tb[j] = tv; hb[j] = og * tv;                                    \
        }
    /* noinline: inlined into a caller, the loop would take the caller's options */
    #define ZK_LSTM_CELL_FN(T, SUF)                                                     \
    static __attribute__((noinline)) void zk_lstm_cell_##SUF(                           \
            T *z, T *c, const T *c_prev, T *h, T *tc, Py_ssize_t B, Py_ssize_t H,       \
            Py_ssize_t S) {                                                             \
        for (Py_ssize_t b = 0; b < B; ++b) {                                            \
            T *zb = z + b * 4 * H, *cb = c + b * S, *hb = h + b * S, *tb = tc + b * H;  \
            if (c_prev) {                                                               \
                const T *pb = c_prev + b * S;                                           \
                ZK_CELL_LOOP(SUF, pb[j])                                                \
            } else {                                                                    \
                ZK_CELL_LOOP(SUF, (T)0)                                                 \
            }                                                                           \
        }                                                                               \
    }
    ZK_SIG_TANH(double, d)
    ZK_SIG_TANH(float, f)
    ZK_LSTM_CELL_FN(double, d)
    ZK_LSTM_CELL_FN(float, f)
    #pragma GCC pop_options

    /* One sample's gate cotangents (see _gate_cotangent); scf may be vc (entry j
       reads only entry j), hence omp simd rather than restrict. */
    #define ZK_GATE_LOOP(CP)                                                            \
        _Pragma("omp simd")                                                             \
        for (Py_ssize_t j = 0; j < H; ++j) {                                            \
            __typeof__(*dz) ig = gt[j], fg = gt[H + j], gg = gt[2 * H + j];             \
            __typeof__(*dz) og = gt[3 * H + j], t = tc[j];                              \
            __typeof__(*dz) sc = vc[j] + vh[j] * (og * (1 - t * t));                    \
            dz[j] = sc * (gg * ig * (1 - ig));                                          \
            dz[H + j] = sc * ((CP) * fg * (1 - fg));                                    \
            dz[2 * H + j] = sc * (ig * (1 - gg * gg));                                  \
            dz[3 * H + j] = vh[j] * (t * og * (1 - og));                                \
            scf[j] = sc * fg;                                                           \
        }
    #define ZK_GATE_COT(T, SUF)                                                         \
    static inline void zk_gate_cot_##SUF(const T *vh, const T *vc, const T *gt,         \
                                         const T *tc, const T *c_prev, Py_ssize_t H,    \
                                         T *dz, T *scf) {                               \
        if (c_prev) { ZK_GATE_LOOP(c_prev[j]) } else { ZK_GATE_LOOP((T)0) }            \
    }
    ZK_GATE_COT(double, d)
    ZK_GATE_COT(float, f)
    """
    float zk_sig_f(float x) nogil
    double zk_sig_d(double x) nogil
    void zk_lstm_cell_d(double *z, double *c, const double *c_prev, double *h, double *tc,
                        Py_ssize_t B, Py_ssize_t H, Py_ssize_t S) nogil
    void zk_lstm_cell_f(float *z, float *c, const float *c_prev, float *h, float *tc,
                        Py_ssize_t B, Py_ssize_t H, Py_ssize_t S) nogil
    void zk_gate_cot_d(const double *vh, const double *vc, const double *gt,
                       const double *tc, const double *c_prev, Py_ssize_t H, double *dz,
                       double *scf) nogil
    void zk_gate_cot_f(const float *vh, const float *vc, const float *gt, const float *tc,
                       const float *c_prev, Py_ssize_t H, float *dz, float *scf) nogil


cdef inline floating _exp(floating x) noexcept nogil:
    if floating is float:
        return expf(x)
    else:
        return exp(x)


cdef inline floating _sig(floating x) noexcept nogil:
    if floating is float:
        return zk_sig_f(x)
    else:
        return zk_sig_d(x)


cdef inline void _cell(floating *z, floating *c, const floating *c_prev, floating *h,
                       floating *tc, Py_ssize_t B, Py_ssize_t H, Py_ssize_t S) noexcept nogil:
    """Gates z (B, 4H) activated in place; c, h written with row stride S; tc (B, H);
    c_prev NULL: c_{−1} = 0."""
    if floating is float:
        zk_lstm_cell_f(z, c, c_prev, h, tc, B, H, S)
    else:
        zk_lstm_cell_d(z, c, c_prev, h, tc, B, H, S)


cdef double _readout(int loss, const floating *h, const floating *y, Py_ssize_t y_stride,
                     const floating *W_out, const floating *b_out, Py_ssize_t B, Py_ssize_t H,
                     Py_ssize_t S, Py_ssize_t O, floating *E, floating *gW_out,
                     floating *gb_out, floating *l) noexcept nogil:
    """ŷ = h W_out + b_out, e = ∂L/∂ŷ, readout gradients, l (B, H) = e W_outᵀ; returns
    the loss summed over the batch (and outputs for MSE/BCE)."""
    cdef Py_ssize_t bi, o
    cdef floating a, yv, m, z, fB = <floating> B, fBO = <floating> (B * O), one = 1
    cdef double acc = 0, lse
    for bi in range(B):
        for o in range(O):
            E[bi * O + o] = b_out[o]
    gemm_rm(0, 0, <int> B, <int> O, <int> H, one, h, <int> S, W_out, <int> O, one, E, <int> O)
    for bi in range(B):
        if loss == 0:
            for o in range(O):
                a = E[bi * O + o] - y[bi * y_stride + o]
                acc += <double> a * a
                E[bi * O + o] = a / fB
        elif loss == 1:
            m = E[bi * O]
            for o in range(1, O):
                if E[bi * O + o] > m:
                    m = E[bi * O + o]
            z = 0
            for o in range(O):
                z += _exp(E[bi * O + o] - m)
            lse = log(<double> z)
            for o in range(O):
                a = E[bi * O + o] - m
                acc -= <double> y[bi * y_stride + o] * (a - lse)
                E[bi * O + o] = (_exp(a) / z - y[bi * y_stride + o]) / fB
        else:
            for o in range(O):
                a = E[bi * O + o]
                yv = y[bi * y_stride + o]
                acc += (a if a > 0 else 0) - <double> a * yv + log1p(exp(-fabs(<double> a)))
                E[bi * O + o] = (_sig(a) - yv) / fBO
    gemm_rm(1, 0, <int> H, <int> O, <int> B, one, h, <int> S, E, <int> O, one, gW_out, <int> O)
    for bi in range(B):
        for o in range(O):
            gb_out[o] += E[bi * O + o]
    gemm_rm(0, 1, <int> B, <int> H, <int> O, one, E, <int> O, W_out, <int> O, <floating> 0, l,
            <int> H)
    return acc


cdef inline void _gate_cotangent(const floating *vh, const floating *vc, const floating *gt,
                                 const floating *tc, const floating *c_prev, Py_ssize_t H,
                                 floating *dz, floating *scf) noexcept nogil:
    """For one sample: dz (4H) = ∂/∂z of ⟨[vh, vc], [h_t, c_t]⟩ and scf (H) = sc ⊙ f,
    sc = vc + vh ⊙ o(1 − tanh²c) (c_prev NULL: c_{−1} = 0; scf may be vc)."""
    if floating is float:
        zk_gate_cot_f(vh, vc, gt, tc, c_prev, H, dz, scf)
    else:
        zk_gate_cot_d(vh, vc, gt, tc, c_prev, H, dz, scf)


cdef double _forward(const floating *X, const floating *Y, const unsigned char *mask,
                     const floating *W_x, const floating *W_h, const floating *b,
                     const floating *W_out, const floating *b_out, Py_ssize_t B, Py_ssize_t T,
                     Py_ssize_t I, Py_ssize_t H, Py_ssize_t O, int loss, floating *gW_out,
                     floating *gb_out, floating *St, floating *Gt, floating *TC, floating *L,
                     floating *Xt, floating *E, Py_ssize_t *n_targets) noexcept nogil:
    """States St (T, B, S), gates Gt (T, B, F), tanh(c) TC, l_t's h part L (T, B, H; 0 off
    target steps), time-major inputs Xt (T, B, I), readout gradients; returns the loss sum."""
    cdef Py_ssize_t S = 2 * H, F = 4 * H, BS = B * S, BF = B * F, BH = B * H, TB = T * B
    cdef Py_ssize_t t, r, j
    cdef floating one = 1, zero = 0
    cdef double acc = 0
    memset(gW_out, 0, H * O * sizeof(floating))
    memset(gb_out, 0, O * sizeof(floating))
    memset(L, 0, TB * H * sizeof(floating))
    n_targets[0] = 0
    # z_t = (x_t W_x + b) + h_{t−1} W_h, then the cell
    for t in range(T):
        for r in range(B):
            for j in range(I):
                Xt[(t * B + r) * I + j] = X[(r * T + t) * I + j]
    gemm_rm(0, 0, <int> TB, <int> F, <int> I, one, Xt, <int> I, W_x, <int> F, zero, Gt,
            <int> F)
    for t in range(T):
        for r in range(B):
            for j in range(F):
                Gt[t * BF + r * F + j] += b[j]
        if t > 0:
            gemm_rm(0, 0, <int> B, <int> F, <int> H, one, St + (t - 1) * BS, <int> S, W_h,
                    <int> F, one, Gt + t * BF, <int> F)
        _cell(Gt + t * BF, St + t * BS + H, St + (t - 1) * BS + H if t > 0 else NULL,
              St + t * BS, TC + t * BH, B, H, S)
        if mask[t]:
            acc += _readout(loss, St + t * BS, Y + t * O, T * O, W_out, b_out, B, H, S, O, E,
                            gW_out, gb_out, L + t * BH)
            n_targets[0] += 1
    return acc


cdef void _param_grads(const floating *Xt, const floating *St, const floating *DZ,
                       Py_ssize_t B, Py_ssize_t T, Py_ssize_t I, Py_ssize_t H,
                       floating *gW_x, floating *gW_h, floating *gb) noexcept nogil:
    """Σ_t x_tᵀ dz_t, Σ_t h_{t−1}ᵀ dz_t (h_{−1} = 0), Σ_{t,b} dz_t for DZ (T, B, 4H)."""
    cdef Py_ssize_t S = 2 * H, F = 4 * H, TB = T * B, r, j
    cdef floating one = 1, zero = 0
    gemm_rm(1, 0, <int> I, <int> F, <int> TB, one, Xt, <int> I, DZ, <int> F, zero, gW_x,
            <int> F)
    if T > 1:
        gemm_rm(1, 0, <int> H, <int> F, <int> ((T - 1) * B), one, St, <int> S, DZ + B * F,
                <int> F, zero, gW_h, <int> F)
    else:
        memset(gW_h, 0, H * F * sizeof(floating))
    for j in range(F):
        gb[j] = 0
    for r in range(TB):
        for j in range(F):
            gb[j] += DZ[r * F + j]


cdef Py_ssize_t _pass(const floating *X, const floating *Y, const unsigned char *mask,
                      const floating *W_x, const floating *W_h, const floating *b,
                      const floating *W_out, const floating *b_out, const floating *sW,
                      const floating *sb, Py_ssize_t B, Py_ssize_t T, Py_ssize_t I,
                      Py_ssize_t H, Py_ssize_t O, int loss, floating gamma, floating decay,
                      floating sgw, double clip, floating *gW_x, floating *gW_h, floating *gb,
                      floating *gW_out, floating *gb_out, floating *gsW, floating *gsb,
                      floating *work, double *loss_sum, Py_ssize_t *n_targets) noexcept nogil:
    """Returns −1, or the first trace step whose update is not finite."""
    cdef Py_ssize_t S = 2 * H, F = 4 * H, n = T - 1
    cdef Py_ssize_t BS = B * S, BF = B * F, BH = B * H, TB = T * B
    cdef floating *St = work                     # (T, B, S) states [h_t, c_t]
    cdef floating *Gt = St + TB * S              # (T, B, F) gates i, f, g, o
    cdef floating *TC = Gt + TB * F              # (T, B, H) tanh(c_t)
    cdef floating *L = TC + TB * H               # (T, B, H) l_t (its h part; c part 0)
    cdef floating *G = L + TB * H                # (T, B, S) g(s_t), 0 at T − 1
    cdef floating *Xt = G + TB * S               # (T, B, I) time-major inputs
    cdef floating *DZ = Xt + TB * I              # (T, B, F) gate cotangents (scratch)
    cdef floating *Dl = DZ + TB * F              # (n, B, S) δ_k
    cdef floating *C = Dl + n * BS               # (B, n, S) chains c_{k,s}
    cdef floating *tmp = C + n * BS              # (B n, H)
    cdef floating *dW = tmp + n * BH             # (S, n, S) unclipped dW_k (column block k)
    cdef floating *db = dW + n * S * S           # (n, S)
    cdef floating *E = db + n * S                # (B, O)
    cdef floating *v = E + B * O                 # (S,) a cotangent [v_h, v_c]
    cdef floating *scf = v + S                   # (H,) sc ⊙ f of one row
    cdef const floating *cp
    cdef floating *row
    cdef Py_ssize_t t, bi, j, k, s, m, r, d
    cdef floating one = 1, zero = 0, scale = 1 / <floating> B
    cdef double nw, nb, fw, fb

    memset(gsW, 0, S * S * sizeof(floating))
    memset(gsb, 0, S * sizeof(floating))
    loss_sum[0] = _forward(X, Y, mask, W_x, W_h, b, W_out, b_out, B, T, I, H, O, loss, gW_out,
                           gb_out, St, Gt, TC, L, Xt, E, n_targets)

    # g(s_t) for t < T − 1, 0 at the last step
    for r in range(n * B):
        for j in range(S):
            G[r * S + j] = sb[j]
    if n > 0:
        gemm_rm(0, 0, <int> (n * B), <int> S, <int> S, one, St, <int> S, sW, <int> S, one, G,
                <int> S)
    memset(G + n * BS, 0, BS * sizeof(floating))

    # δ_{t−1} = (l_t + γ g_t) J_t − g_{t−1}: gate cotangents of step t, one GEMM with W_hᵀ
    for t in range(1, T):
        for bi in range(B):
            for j in range(H):                      # v = l_t + γ g_t
                v[j] = L[t * BH + bi * H + j] + gamma * G[t * BS + bi * S + j]
                v[H + j] = gamma * G[t * BS + bi * S + H + j]
            _gate_cotangent(v, v + H, Gt + t * BF + bi * F, TC + t * BH + bi * H,
                            St + (t - 1) * BS + bi * S + H, H, DZ + ((t - 1) * B + bi) * F,
                            Dl + (t - 1) * BS + bi * S + H)
            for j in range(H):
                Dl[(t - 1) * BS + bi * S + H + j] -= G[(t - 1) * BS + bi * S + H + j]
                Dl[(t - 1) * BS + bi * S + j] = -G[(t - 1) * BS + bi * S + j]
    if n > 0:
        gemm_rm(0, 1, <int> (n * B), <int> H, <int> F, one, DZ, <int> F, W_h, <int> F, one,
                Dl, <int> S)

    # synthesiser: −Σ_k clip₁(dΘ_k); states in reverse order, all chains k ≥ s at once
    if n > 0:
        memset(dW, 0, n * S * S * sizeof(floating))
        memset(db, 0, n * S * sizeof(floating))
    for s in range(n - 1, -1, -1):
        m = n - s if decay != 0 else 1
        for bi in range(B):
            for j in range(S):
                C[(bi * n + s) * S + j] = Dl[s * BS + bi * S + j]
        # dW_k += s_sᵀ c_{k,s} for k in [s, s + m): one GEMM into the column blocks
        gemm_rm(1, 0, <int> S, <int> (m * S), <int> B, one, St + s * BS, <int> S, C + s * S,
                <int> (n * S), one, dW + s * S, <int> (n * S))
        for bi in range(B):
            for r in range(m * S):
                db[s * S + r] += C[(bi * n + s) * S + r]
        if s == 0 or decay == 0:
            continue
        # c_{k,s−1} = decay · c_{k,s} J_s for every k ≥ s (step s's gates, per sample)
        for bi in range(B):
            for k in range(m):
                row = C + (bi * n + s + k) * S
                _gate_cotangent(row, row + H, Gt + s * BF + bi * F, TC + s * BH + bi * H,
                                St + (s - 1) * BS + bi * S + H, H, DZ + (bi * m + k) * F, scf)
                for j in range(H):
                    row[H + j] = decay * scf[j]
        gemm_rm(0, 1, <int> (B * m), <int> H, <int> F, decay, DZ, <int> F, W_h, <int> F, zero,
                tmp, <int> H)
        for bi in range(B):
            for k in range(m):
                row = C + (bi * n + s + k) * S
                for j in range(H):
                    row[j] = tmp[(bi * m + k) * H + j]
    for k in range(n):
        nw = 0
        nb = 0
        for d in range(S):
            for j in range(S):
                dW[(d * n + k) * S + j] *= scale
                nw += <double> dW[(d * n + k) * S + j] * dW[(d * n + k) * S + j]
        for j in range(S):
            db[k * S + j] *= scale
            nb += <double> db[k * S + j] * db[k * S + j]
        if not (isfinite(nw) and isfinite(nb)):
            return k
        fw = clip / sqrt(nw) if clip > 0 and sqrt(nw) > clip else 1.0
        fb = clip / sqrt(nb) if clip > 0 and sqrt(nb) > clip else 1.0
        for d in range(S):
            for j in range(S):
                gsW[d * S + j] -= <floating> fw * dW[(d * n + k) * S + j]
        for j in range(S):
            gsb[j] -= <floating> fb * db[k * S + j]

    # the LSTM's one-step rule: LS_t = l_t + sg_weight g_t through ∂s_t/∂Ψ (s_{t−1} fixed)
    for t in range(T):
        for bi in range(B):
            for j in range(H):
                v[j] = L[t * BH + bi * H + j] + sgw * G[t * BS + bi * S + j]
                v[H + j] = sgw * G[t * BS + bi * S + H + j]
            cp = St + (t - 1) * BS + bi * S + H if t > 0 else NULL
            _gate_cotangent(v, v + H, Gt + t * BF + bi * F, TC + t * BH + bi * H, cp, H,
                            DZ + t * BF + bi * F, scf)
    _param_grads(Xt, St, DZ, B, T, I, H, gW_x, gW_h, gb)
    return -1


cdef void _window_synth(const floating *st, const floating *sW, const floating *sb,
                        Py_ssize_t B, Py_ssize_t S, floating alpha,
                        floating *out) noexcept nogil:
    """out (B, S) = alpha (s sW + sb) for states st (B, S)."""
    cdef Py_ssize_t r, j
    for r in range(B):
        for j in range(S):
            out[r * S + j] = sb[j]
    gemm_rm(0, 0, <int> B, <int> S, <int> S, <floating> 1, st, <int> S, sW, <int> S,
            <floating> 1, out, <int> S)
    if alpha != 1:
        for r in range(B * S):
            out[r] *= alpha


cdef void _bptt(const floating *X, const floating *Y, const unsigned char *mask,
                const floating *W_x, const floating *W_h, const floating *b,
                const floating *W_out, const floating *b_out, const floating *sW,
                const floating *sb, Py_ssize_t B, Py_ssize_t T, Py_ssize_t I, Py_ssize_t H,
                Py_ssize_t O, int loss, Py_ssize_t trunc, bint synth, bint sg_last,
                floating sgw, floating *gW_x, floating *gW_h, floating *gb,
                floating *gW_out, floating *gb_out, floating *gsW, floating *gsb,
                floating *work, double *loss_sum, Py_ssize_t *n_targets) noexcept nogil:
    """Truncated BPTT(n) (trunc 0: full) and, with ``synth``, DNI(n) (``lstm_baselines.py``):
    windows with the remainder first; in a window ``Ĝ_t = l_t + Ĝ_{t+1} J_{t+1}``, from 0
    or ``sg_weight g(s_end)`` at its end; g(s_{start−1}) regressed on the gradient arriving
    there (mean over the batch)."""
    cdef Py_ssize_t S = 2 * H, F = 4 * H, BS = B * S, BF = B * F, BH = B * H, TB = T * B
    cdef floating *St = work
    cdef floating *Gt = St + TB * S
    cdef floating *TC = Gt + TB * F
    cdef floating *L = TC + TB * H
    cdef floating *Xt = L + TB * H
    cdef floating *DZ = Xt + TB * I              # (T, B, F): every step is in one window
    cdef floating *E = DZ + TB * F
    cdef floating *Gc = E + B * O                # (B, S) the running Ĝ
    cdef floating *R = Gc + BS                   # (B, S) the regression residual
    cdef Py_ssize_t n = trunc if 0 < trunc < T else T
    cdef Py_ssize_t rem = T % n, n_win = T // n + (1 if rem else 0)
    cdef Py_ssize_t w, s, e, t, r, j
    cdef floating one = 1, zero = 0, fB = <floating> B
    memset(gsW, 0, S * S * sizeof(floating))
    memset(gsb, 0, S * sizeof(floating))
    loss_sum[0] = _forward(X, Y, mask, W_x, W_h, b, W_out, b_out, B, T, I, H, O, loss, gW_out,
                           gb_out, St, Gt, TC, L, Xt, E, n_targets)
    for w in range(n_win):
        if rem and w == 0:
            s, e = 0, rem
        else:
            s = rem + (w - (1 if rem else 0)) * n
            e = s + n
        if synth and (sg_last or w < n_win - 1):
            _window_synth(St + (e - 1) * BS, sW, sb, B, S, sgw, Gc)
        else:
            memset(Gc, 0, BS * sizeof(floating))
        for t in range(e - 1, s - 1, -1):
            for r in range(B):
                for j in range(H):
                    Gc[r * S + j] += L[t * BH + r * H + j]
                # Ĝ's c part becomes sc ⊙ f in place (entry j reads only entry j)
                _gate_cotangent(Gc + r * S, Gc + r * S + H, Gt + t * BF + r * F,
                                TC + t * BH + r * H,
                                St + (t - 1) * BS + r * S + H if t > 0 else NULL, H,
                                DZ + t * BF + r * F, Gc + r * S + H)
            gemm_rm(0, 1, <int> B, <int> H, <int> F, one, DZ + t * BF, <int> F, W_h, <int> F,
                    zero, Gc, <int> S)
        if synth and s >= 1:
            _window_synth(St + (s - 1) * BS, sW, sb, B, S, one, R)
            for r in range(BS):
                R[r] = (R[r] - Gc[r]) / fB
            gemm_rm(1, 0, <int> S, <int> S, <int> B, one, St + (s - 1) * BS, <int> S, R,
                    <int> S, one, gsW, <int> S)
            for r in range(B):
                for j in range(S):
                    gsb[j] += R[r * S + j]
    _param_grads(Xt, St, DZ, B, T, I, H, gW_x, gW_h, gb)


def _check(name, Py_ssize_t got, Py_ssize_t want):
    if got != want:
        raise ValueError(f"{name}: expected {want} along an axis, got {got}")


cdef _check_shapes(const floating[:, :, ::1] X, const floating[:, :, ::1] Y,
                   const unsigned char[::1] mask, const floating[:, ::1] W_x,
                   const floating[:, ::1] W_h, const floating[::1] b,
                   const floating[:, ::1] W_out, const floating[::1] b_out,
                   const floating[:, ::1] sW, const floating[::1] sb,
                   floating[:, ::1] gW_x, floating[:, ::1] gW_h, floating[::1] gb,
                   floating[:, ::1] gW_out, floating[::1] gb_out, floating[:, ::1] gsW,
                   floating[::1] gsb, floating[::1] work, int loss):
    cdef Py_ssize_t B = X.shape[0], T = X.shape[1], I = X.shape[2]
    cdef Py_ssize_t H = W_h.shape[0], O = W_out.shape[1], S = 2 * H, F = 4 * H
    for name, got, want in (("Y", Y.shape[0], B), ("Y", Y.shape[1], T), ("Y", Y.shape[2], O),
                            ("mask", mask.shape[0], T), ("W_x", W_x.shape[0], I),
                            ("W_x", W_x.shape[1], F), ("W_h", W_h.shape[1], F),
                            ("b", b.shape[0], F), ("W_out", W_out.shape[0], H),
                            ("b_out", b_out.shape[0], O), ("sW", sW.shape[0], S),
                            ("sW", sW.shape[1], S), ("sb", sb.shape[0], S),
                            ("gW_x", gW_x.shape[0], I), ("gW_x", gW_x.shape[1], F),
                            ("gW_h", gW_h.shape[0], H), ("gW_h", gW_h.shape[1], F),
                            ("gb", gb.shape[0], F), ("gW_out", gW_out.shape[0], H),
                            ("gW_out", gW_out.shape[1], O), ("gb_out", gb_out.shape[0], O),
                            ("gsW", gsW.shape[0], S), ("gsW", gsW.shape[1], S),
                            ("gsb", gsb.shape[0], S)):
        _check(name, got, want)
    if B < 1 or T < 1 or I < 1 or H < 1 or O < 1:
        raise ValueError(f"X, W_h, W_out: expected non-empty shapes, got B={B} T={T} I={I} "
                         f"H={H} O={O}")
    if work.shape[0] < workspace_size(B, T, I, H, O):
        raise ValueError("work: buffer smaller than workspace_size(B, T, I, H, O)")
    if loss < 0 or loss > 2:
        raise ValueError(f"loss: expected 0, 1 or 2, got {loss}")


def lstm_sequence_grads(const floating[:, :, ::1] X, const floating[:, :, ::1] Y,
                        const unsigned char[::1] mask, const floating[:, ::1] W_x,
                        const floating[:, ::1] W_h, const floating[::1] b,
                        const floating[:, ::1] W_out, const floating[::1] b_out,
                        const floating[:, ::1] sW, const floating[::1] sb, int loss,
                        double gamma, double decay, double sg_weight, double clip,
                        floating[:, ::1] gW_x, floating[:, ::1] gW_h, floating[::1] gb,
                        floating[:, ::1] gW_out, floating[::1] gb_out, floating[:, ::1] gsW,
                        floating[::1] gsb, floating[::1] work):
    """BP(λ) gradients of one sequence batch into the ``g*`` buffers (overwritten).

    X (B, T, I), Y (B, T, O), mask (T,) uint8; W_x (I, 4H), W_h (H, 4H), b (4H,),
    W_out (H, O), b_out (O,) as ``LSTM.params``; the linear synthesiser sW (2H, 2H),
    sb (2H,); ``loss`` 0 MSE, 1 softmax, 2 BCE; ``decay`` = γλ; ``clip`` ≤ 0: no clip;
    ``work`` at least ``workspace_size(B, T, I, H, O)``.
    Returns ``(loss summed over target steps and batch (and outputs for MSE/BCE),
    number of target steps, bad)``, ``bad`` −1 or the first trace step whose update
    is not finite.
    """
    cdef Py_ssize_t B = X.shape[0], T = X.shape[1], I = X.shape[2]
    cdef Py_ssize_t H = W_h.shape[0], O = W_out.shape[1]
    _check_shapes(X, Y, mask, W_x, W_h, b, W_out, b_out, sW, sb, gW_x, gW_h, gb, gW_out,
                  gb_out, gsW, gsb, work, loss)
    cdef double total = 0
    cdef Py_ssize_t nt = 0, bad
    with nogil:
        bad = _pass(&X[0, 0, 0], &Y[0, 0, 0], &mask[0], &W_x[0, 0], &W_h[0, 0], &b[0],
                    &W_out[0, 0], &b_out[0], &sW[0, 0], &sb[0], B, T, I, H, O, loss,
                    <floating> gamma, <floating> decay, <floating> sg_weight, clip,
                    &gW_x[0, 0], &gW_h[0, 0], &gb[0], &gW_out[0, 0], &gb_out[0],
                    &gsW[0, 0], &gsb[0], &work[0], &total, &nt)
    return total, nt, bad


def lstm_bptt_grads(const floating[:, :, ::1] X, const floating[:, :, ::1] Y,
                    const unsigned char[::1] mask, const floating[:, ::1] W_x,
                    const floating[:, ::1] W_h, const floating[::1] b,
                    const floating[:, ::1] W_out, const floating[::1] b_out,
                    const floating[:, ::1] sW, const floating[::1] sb, int loss,
                    Py_ssize_t truncation, bint synth, bint sg_last_window, double sg_weight,
                    floating[:, ::1] gW_x, floating[:, ::1] gW_h, floating[::1] gb,
                    floating[:, ::1] gW_out, floating[::1] gb_out, floating[:, ::1] gsW,
                    floating[::1] gsb, floating[::1] work):
    """Full/truncated BPTT (``truncation`` 0: full) or DNI (``synth``) gradients of one
    batch into the ``g*`` buffers (overwritten; the synthesiser's stay 0 without ``synth``).

    Shapes as ``lstm_sequence_grads``. Returns ``(loss sum, number of target steps)``.
    """
    cdef Py_ssize_t B = X.shape[0], T = X.shape[1], I = X.shape[2]
    cdef Py_ssize_t H = W_h.shape[0], O = W_out.shape[1]
    _check_shapes(X, Y, mask, W_x, W_h, b, W_out, b_out, sW, sb, gW_x, gW_h, gb, gW_out,
                  gb_out, gsW, gsb, work, loss)
    if truncation < 0:
        raise ValueError(f"truncation: expected >= 0, got {truncation}")
    cdef double total = 0
    cdef Py_ssize_t nt = 0
    with nogil:
        _bptt(&X[0, 0, 0], &Y[0, 0, 0], &mask[0], &W_x[0, 0], &W_h[0, 0], &b[0],
              &W_out[0, 0], &b_out[0], &sW[0, 0], &sb[0], B, T, I, H, O, loss, truncation,
              synth, sg_last_window, <floating> sg_weight, &gW_x[0, 0], &gW_h[0, 0], &gb[0],
              &gW_out[0, 0], &gb_out[0], &gsW[0, 0], &gsb[0], &work[0], &total, &nt)
    return total, nt
