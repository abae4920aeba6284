/* Weight gradient of a depthwise convolution on channels-last (NHWC) float tensors.
 *
 *   grad_w[i][j][c] = sum over n, oh, ow of x[n][oh*s + i - pad][ow*s + j - pad][c] * g[n][oh][ow][c]
 *
 * Threads take disjoint blocks of 16 channels, so no two write the same output; each
 * block's k*k*16 accumulators stay in the L1 cache while x and g stream past.
 * Built by supernet/_native.py with the machine's C compiler (-O3 -march=native -fopenmp). */
#include <string.h>

#define BLOCK 16
#define MAX_K 15 /* larger kernels are refused by the caller */

void dw_weight_grad(const float *x, const float *g, float *out, int n, int h, int w, int c,
                    int ho, int wo, int k, int stride, int pad, int threads) {
    int blocks = (c + BLOCK - 1) / BLOCK;
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int b = 0; b < blocks; b++) {
        int c0 = b * BLOCK;
        int cw = c - c0 < BLOCK ? c - c0 : BLOCK;
        float acc[MAX_K * MAX_K * BLOCK];
        memset(acc, 0, sizeof(float) * k * k * BLOCK);
        for (int in = 0; in < n; in++) {
            for (int oh = 0; oh < ho; oh++) {
                for (int ow = 0; ow < wo; ow++) {
                    const float *gp = g + (((long)in * ho + oh) * wo + ow) * c + c0;
                    float gv[BLOCK];
                    for (int q = 0; q < BLOCK; q++) gv[q] = q < cw ? gp[q] : 0.0f;
                    for (int i = 0; i < k; i++) {
                        int ih = oh * stride + i - pad;
                        if (ih < 0 || ih >= h) continue;
                        const float *xrow = x + (((long)in * h + ih) * w) * c + c0;
                        for (int j = 0; j < k; j++) {
                            int iw = ow * stride + j - pad;
                            if (iw < 0 || iw >= w) continue;
                            const float *xp = xrow + (long)iw * c;
                            float *a = acc + (i * k + j) * BLOCK;
                            if (cw == BLOCK) {
                                #pragma omp simd
                                for (int q = 0; q < BLOCK; q++) a[q] += xp[q] * gv[q];
                            } else {
                                for (int q = 0; q < cw; q++) a[q] += xp[q] * gv[q];
                            }
                        }
                    }
                }
            }
        }
        for (int t = 0; t < k * k; t++)
            for (int q = 0; q < cw; q++) out[(long)t * c + c0 + q] = acc[t * BLOCK + q];
    }
}
