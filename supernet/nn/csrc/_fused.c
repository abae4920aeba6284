/* Batch norm (training mode) fused with its activation, on channels-last (NHWC) floats.
 *
 * x is an (m, c) row-major matrix: m = n*h*w rows of c channels. With scale = gamma * invstd
 * and shift = beta - mean * scale, the pre-activation is z = x * scale + shift.
 *
 *   forward:  two passes over x (batch statistics, then y = act(z)).
 *   backward: two passes over x and g, z recomputed from x, so neither z nor act(z) is
 *             ever stored:
 *             gz = g * act'(z),  sg = sum(gz),  sgx = sum(gz * (x - mean))
 *             grad_x = scale * gz - scale * sg / m - (x - mean) * scale * invstd^2 * sgx / m
 *             (with the forward's own scale and shift, so both see the same z)
 *             grad_gamma = sgx * invstd,  grad_beta = sg
 *
 * Sums run in float over chunks of CHUNK rows (vectorised) and are added up in double;
 * the statistics are taken around a per-channel pivot (the first row) so that a large
 * mean does not cancel the variance. Rows are split between threads. The activations
 * follow PyTorch's formulas and its conventions at the kinks (relu'(0) = 0; hardswish'(z)
 * = 0 below -3, z / 3 + 0.5 up to 3, then 1).
 * Built by supernet/_native.py with the machine's C compiler (-O3 -march=native -fopenmp). */
#include <math.h>
#include <stdlib.h>
#include <omp.h>

#define CHUNK 64
#define INLINE static inline __attribute__((always_inline))

enum { ACT_NONE = 0, ACT_RELU = 1, ACT_HSWISH = 2 };

INLINE float act_value(float z, int act) {
    if (act == ACT_RELU) return z <= 0.0f ? 0.0f : z;  /* NaN passes, as in torch.relu */
    if (act == ACT_HSWISH) {
        float t = z + 3.0f;
        t = t < 0.0f ? 0.0f : (t > 6.0f ? 6.0f : t);
        return z * t * (1.0f / 6.0f);
    }
    return z;
}

INLINE float act_slope(float z, int act) {
    if (act == ACT_RELU) return z <= 0.0f ? 0.0f : 1.0f;
    if (act == ACT_HSWISH) return z < -3.0f ? 0.0f : (z <= 3.0f ? z * (1.0f / 3.0f) + 0.5f : 1.0f);
    return 1.0f;
}

/* Per-channel sums over rows [r0, r1), added into sa and sb (double). Without g (the
 * statistics): sums of x - pivot and of its square. With g: sums of gz and gz * (x - mu). */
INLINE void row_sums(const float *x, const float *g, long r0, long r1, int c, const float *pivot,
                     const float *scale, const float *shift, int act, float *fa, float *fb,
                     double *sa, double *sb) {
    for (long r = r0; r < r1; r += CHUNK) {
        long end = r + CHUNK < r1 ? r + CHUNK : r1;
        for (int q = 0; q < c; q++) fa[q] = fb[q] = 0.0f;
        for (long i = r; i < end; i++) {
            const float *xr = x + i * c;
            if (g == NULL) {
                #pragma omp simd
                for (int q = 0; q < c; q++) {
                    float v = xr[q] - pivot[q];
                    fa[q] += v;
                    fb[q] += v * v;
                }
            } else {
                const float *gr = g + i * c;
                #pragma omp simd
                for (int q = 0; q < c; q++) {
                    float gz = gr[q] * act_slope(xr[q] * scale[q] + shift[q], act);
                    fa[q] += gz;
                    fb[q] += gz * (xr[q] - pivot[q]);
                }
            }
        }
        for (int q = 0; q < c; q++) {
            sa[q] += fa[q];
            sb[q] += fb[q];
        }
    }
}

/* Both sums over all m rows, threads taking contiguous row ranges. Returns -1 when out of
 * memory, else 0. */
static int channel_sums(const float *x, const float *g, long m, int c, const float *pivot,
                        const float *scale, const float *shift, int act, double *sa, double *sb,
                        int threads) {
    double *part = calloc((size_t)threads * 2 * c, sizeof(double));
    float *scratch = malloc(sizeof(float) * (size_t)threads * 2 * c);
    if (!part || !scratch) { free(part); free(scratch); return -1; }
    #pragma omp parallel num_threads(threads)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        long per = (m + nt - 1) / nt, r0 = per * t < m ? per * t : m, r1 = r0 + per < m ? r0 + per : m;
        double *pa = part + (size_t)t * 2 * c;
        float *fa = scratch + (size_t)t * 2 * c;
        switch (g == NULL ? -1 : act) {
        case -1: row_sums(x, NULL, r0, r1, c, pivot, scale, shift, ACT_NONE, fa, fa + c, pa, pa + c); break;
        case ACT_RELU: row_sums(x, g, r0, r1, c, pivot, scale, shift, ACT_RELU, fa, fa + c, pa, pa + c); break;
        case ACT_HSWISH: row_sums(x, g, r0, r1, c, pivot, scale, shift, ACT_HSWISH, fa, fa + c, pa, pa + c); break;
        default: row_sums(x, g, r0, r1, c, pivot, scale, shift, ACT_NONE, fa, fa + c, pa, pa + c);
        }
    }
    for (int q = 0; q < c; q++) sa[q] = sb[q] = 0.0;
    for (int t = 0; t < threads; t++)
        for (int q = 0; q < c; q++) {
            sa[q] += part[(size_t)t * 2 * c + q];
            sb[q] += part[(size_t)t * 2 * c + c + q];
        }
    free(part);
    free(scratch);
    return 0;
}

INLINE void forward_rows(const float *x, float *y, long m, int c, const float *scale,
                         const float *shift, int act, int threads) {
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (long r = 0; r < m; r++) {
        const float *xr = x + r * c;
        float *yr = y + r * c;
        #pragma omp simd
        for (int q = 0; q < c; q++) yr[q] = act_value(xr[q] * scale[q] + shift[q], act);
    }
}

INLINE void backward_rows(const float *x, const float *g, float *gx, long m, int c, const float *scale,
                          const float *shift, const float *mean, const float *k_x, const float *k_0,
                          int act, int threads) {
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (long r = 0; r < m; r++) {
        const float *xr = x + r * c, *gr = g + r * c;
        float *out = gx + r * c;
        #pragma omp simd
        for (int q = 0; q < c; q++)
            out[q] = scale[q] * gr[q] * act_slope(xr[q] * scale[q] + shift[q], act)
                     - (xr[q] - mean[q]) * k_x[q] - k_0[q];
    }
}

/* Returns 0, -1 when out of memory, -2 for fewer than 2 rows or no channel. Outputs per
 * channel: mean, invstd, var (biased) of the batch, and the scale and shift that the
 * backward must use to recompute exactly the pre-activations of this forward. */
int bn_act_forward(const float *x, float *y, const float *gamma, const float *beta, float *mean,
                   float *invstd, float *var, float *scale, float *shift, long m, int c, float eps,
                   int act, int threads) {
    if (m < 2 || c < 1) return -2;
    double *s = malloc(sizeof(double) * 2 * c);
    /* the first row is the pivot */
    if (!s || channel_sums(x, NULL, m, c, x, NULL, NULL, ACT_NONE, s, s + c, threads)) {
        free(s);
        return -1;
    }
    for (int q = 0; q < c; q++) {
        double d = s[q] / m, v = s[c + q] / m - d * d;
        double mu = x[q] + d, is = 1.0 / sqrt((v > 0.0 ? v : 0.0) + eps);
        mean[q] = (float)mu;
        var[q] = (float)(v > 0.0 ? v : 0.0);
        invstd[q] = (float)is;
        scale[q] = (float)(gamma[q] * is);
        shift[q] = (float)(beta[q] - mu * gamma[q] * is);
    }
    switch (act) {
    case ACT_RELU: forward_rows(x, y, m, c, scale, shift, ACT_RELU, threads); break;
    case ACT_HSWISH: forward_rows(x, y, m, c, scale, shift, ACT_HSWISH, threads); break;
    default: forward_rows(x, y, m, c, scale, shift, ACT_NONE, threads);
    }
    free(s);
    return 0;
}

/* Returns 0, -1 when out of memory, -2 for fewer than 2 rows or no channel. scale, shift,
 * mean, invstd: as the forward returned them. gx may alias neither x nor g. */
int bn_act_backward(const float *x, const float *g, float *gx, const float *scale, const float *shift,
                    const float *mean, const float *invstd, float *grad_gamma, float *grad_beta,
                    long m, int c, int act, int threads) {
    if (m < 2 || c < 1) return -2;
    double *s = malloc(sizeof(double) * 2 * c);
    float *k = malloc(sizeof(float) * 2 * c);
    if (!s || !k) { free(s); free(k); return -1; }
    float *k_x = k, *k_0 = k + c;
    if (channel_sums(x, g, m, c, mean, scale, shift, act, s, s + c, threads)) {
        free(s); free(k);
        return -1;
    }
    for (int q = 0; q < c; q++) {
        double is = invstd[q], sg = s[q], sgx = s[c + q];
        grad_gamma[q] = (float)(sgx * is);
        grad_beta[q] = (float)sg;
        k_x[q] = (float)(scale[q] * is * is * sgx / m);  /* times (x - mean) */
        k_0[q] = (float)(scale[q] * sg / m);             /* the constant */
    }
    switch (act) {
    case ACT_RELU: backward_rows(x, g, gx, m, c, scale, shift, mean, k_x, k_0, ACT_RELU, threads); break;
    case ACT_HSWISH: backward_rows(x, g, gx, m, c, scale, shift, mean, k_x, k_0, ACT_HSWISH, threads); break;
    default: backward_rows(x, g, gx, m, c, scale, shift, mean, k_x, k_0, ACT_NONE, threads);
    }
    free(s);
    free(k);
    return 0;
}
