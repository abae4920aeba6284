/* Weight gradient of a depthwise convolution on channels-last (NHWC) float tensors.
 *
 *   grad_w[i][j][c] = sum over n, oh, ow of x[n][oh*s + i - pad][ow*s + j - pad][c] * g[n][oh][ow][c]
 *
 * Work items are (block of 16 channels, run of images); each writes its own partial sums,
 * added up at the end, so no two threads write the same memory. Within an item, images go
 * in tiles small enough for the L1/L2 cache; over a tile, each kernel row i keeps its k
 * sums in vector registers (one load of x per multiply-add) and adds them to the item's
 * k*k sums after the tile. The kernel size is a compile-time constant for 3, 5 and 7. A
 * last, partial channel block is computed as the full block that ends at channel c.
 * Built by supernet/_native.py with the machine's C compiler (-O3 -march=native -fopenmp). */
#include <stdlib.h>
#include <string.h>

#define BLOCK 16
#define MAX_K 15 /* larger kernels are refused by the caller */
#define TILE_BYTES 32768
#define INLINE static inline __attribute__((always_inline))
typedef float vec __attribute__((vector_size(BLOCK * sizeof(float))));

INLINE vec load(const float *p, int cw) {  /* lanes past cw read as zero */
    vec v = (vec){0};
    if (cw == BLOCK) memcpy(&v, p, sizeof v);
    else for (int q = 0; q < cw; q++) v[q] = p[q];
    return v;
}

/* Adds the sums of images [n0, n1) for channels [c0, c0 + cw) into acc[k*k]. */
INLINE void tile_sums(const float *x, const float *g, vec *acc, int n0, int n1, int h, int w, int c,
                      int ho, int wo, int k, int stride, int pad, int c0, int cw) {
    for (int i = 0; i < k; i++) {
        vec a[MAX_K] = {0};
        #pragma GCC unroll 15
        for (int j = 0; j < k; j++) a[j] = (vec){0};
        for (int in = n0; in < n1; in++)
            for (int oh = 0; oh < ho; oh++) {
                int ih = oh * stride + i - pad;
                if (ih < 0 || ih >= h) continue;
                const float *xrow = x + (((long)in * h + ih) * w) * c + c0;
                const float *grow = g + (((long)in * ho + oh) * wo) * c + c0;
                for (int ow = 0; ow < wo; ow++) {
                    vec gv = load(grow + (long)ow * c, cw);
                    int base = ow * stride - pad;
                    #pragma GCC unroll 15
                    for (int j = 0; j < k; j++) {
                        int iw = base + j;
                        if (iw >= 0 && iw < w) a[j] += load(xrow + (long)iw * c, cw) * gv;
                    }
                }
            }
        #pragma GCC unroll 15
        for (int j = 0; j < k; j++) acc[i * k + j] += a[j];
    }
}

/* Returns 0, -1 when out of memory, -2 for arguments out of range (out is then left as it was). */
int dw_weight_grad(const float *x, const float *g, float *out, int n, int h, int w, int c,
                   int ho, int wo, int k, int stride, int pad, int threads) {
    if (k < 1 || k > MAX_K || stride < 1 || threads < 1 || c < 0) return -2;
    if (n <= 0 || c == 0 || h <= 0 || w <= 0 || ho <= 0 || wo <= 0) {  /* nothing to sum */
        memset(out, 0, sizeof(float) * k * k * c);
        return 0;
    }
    int blocks = (c + BLOCK - 1) / BLOCK;
    /* images split this many ways, so that there are some 4 items per thread */
    int runs = threads * 4 > blocks ? (threads * 4 + blocks - 1) / blocks : 1;
    if (runs > n) runs = n;
    long per_image = ((long)h * w + (long)ho * wo) * BLOCK * sizeof(float);
    int tile = (int)(TILE_BYTES / per_image);
    if (tile < 1) tile = 1;
    vec *parts = aligned_alloc(64, sizeof(vec) * (size_t)blocks * runs * k * k);
    if (parts == NULL) return -1;
    #pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (int item = 0; item < blocks * runs; item++) {
        int b = item / runs, run = item % runs, c0 = b * BLOCK;
        int cw = c - c0 < BLOCK ? c - c0 : BLOCK;
        if (cw < BLOCK && c >= BLOCK) { c0 = c - BLOCK; cw = BLOCK; }
        int n0 = (int)((long)n * run / runs), n1 = (int)((long)n * (run + 1) / runs);
        vec *acc = parts + (size_t)item * k * k;
        for (int t = 0; t < k * k; t++) acc[t] = (vec){0};
        for (int t0 = n0; t0 < n1; t0 += tile) {
            int t1 = t0 + tile < n1 ? t0 + tile : n1;
            if (cw < BLOCK) tile_sums(x, g, acc, t0, t1, h, w, c, ho, wo, k, stride, pad, c0, cw);
            else switch (k) {  /* constants: the taps unrolled, whole-vector loads */
            case 3: tile_sums(x, g, acc, t0, t1, h, w, c, ho, wo, 3, stride, pad, c0, BLOCK); break;
            case 5: tile_sums(x, g, acc, t0, t1, h, w, c, ho, wo, 5, stride, pad, c0, BLOCK); break;
            case 7: tile_sums(x, g, acc, t0, t1, h, w, c, ho, wo, 7, stride, pad, c0, BLOCK); break;
            default: tile_sums(x, g, acc, t0, t1, h, w, c, ho, wo, k, stride, pad, c0, BLOCK);
            }
        }
    }
    for (int b = 0; b < blocks; b++) {
        int c0 = b * BLOCK, cw = c - c0 < BLOCK ? c - c0 : BLOCK, from = c0, skip = 0;
        if (cw < BLOCK && c >= BLOCK) { from = c - BLOCK; skip = c0 - from; cw = BLOCK; }
        for (int t = 0; t < k * k; t++)
            for (int q = skip; q < cw; q++) {
                float s = 0.0f;
                for (int run = 0; run < runs; run++) s += parts[((size_t)b * runs + run) * k * k + t][q];
                out[(long)t * c + from + q] = s;
            }
    }
    free(parts);
    return 0;
}
