/* Fused CPU kernels for memory-bound steps of LeNet-5 training and Hessian products (flatenn.kernels).

   Each computes bit for bit what its PyTorch composition computes (tests/test_kernels.py), in one
   pass over memory instead of a dozen: IEEE float32 operations in the same order, no contraction
   into fused multiply-adds, rounding half to even. They take raw addresses of contiguous float32
   tensors that the Python side has checked and allocated. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>

/* Vector clones for x86-64 (rintf is one instruction from SSE4.1 on); other CPUs get the plain loop. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v3", "arch=x86-64-v2", "default")))
#else
#define VECTOR_CLONES
#endif

/* Sums in a fixed order that PyTorch can replay (kernels.lane_sum): element i goes to lane i % 8, each
   lane adds its values in memory order in double from +0.0 (as torch.cumsum does), and the eight
   lanes are added 0 to 7. A float32 value or a product of two is exact in double, so only these
   additions round. BLOCK (a multiple of 8) keeps the values to sum in L1 between the two loops. */
#define LANES 8
#define BLOCK 1024

/* acc[i % 8] += a[i] (times b[i] where b is given), i = 0 .. n-1, each lane in order of i; a block
   starts at a multiple of 8, so its i % 8 is the element's lane. */
static inline void add_lanes(double *restrict acc, const float *restrict a, const float *restrict b, int64_t n) {
    int64_t full = n - n % LANES;
    if (b) {
        for (int64_t i = 0; i < full; i += LANES)
            for (int j = 0; j < LANES; j++)
                acc[j] += (double)a[i + j] * (double)b[i + j];
        for (int64_t i = full; i < n; i++)
            acc[i - full] += (double)a[i] * (double)b[i];
    } else {
        for (int64_t i = 0; i < full; i += LANES)
            for (int j = 0; j < LANES; j++)
                acc[j] += (double)a[i + j];
        for (int64_t i = full; i < n; i++)
            acc[i - full] += (double)a[i];
    }
}

static inline double lanes_total(const double *acc) {
    double t = acc[0];
    for (int j = 1; j < LANES; j++)
        t += acc[j];
    return t;
}

/* FATReLU, PACT clipping and rounding of one value, as sparsity.fat_pact_reference composes them:
   y = threshold(x, t, 0); v = minimum(y, clip) / step; q = round(v);
   out = q * step, passed = max([x > t] - [y > clip], 0), dclip = (q - v) / levels + [y > clip]. */
static inline void fat_pact_at(float xi, float t, float clip, float step, float levels, float *out, float *passed,
                               float *dclip) {
    float y = xi <= t ? 0.0f : xi;                     /* NaN passes, as in F.threshold */
    float m = (y < clip || y != y) ? y : clip;         /* torch.minimum propagates NaN */
    float v = m / step;
    float q = rintf(v);
    float clipped = y > clip ? 1.0f : 0.0f;
    float p = (xi > t ? 1.0f : 0.0f) - clipped;
    *out = q * step;
    *passed = p > 0.0f ? p : 0.0f;
    *dclip = (q - v) / levels + clipped;
}

/* out (and, where given, both derivatives: passed and dclip) for n values; with `sum` set, the lane
   sum of out (the L1 penalty's numerator) in the same pass. */
VECTOR_CLONES
static void fat_pact(const float *restrict x, float *restrict out, float *restrict passed,
                     float *restrict dclip, double *sum, int64_t n, float t, float clip, float step, float levels) {
    double acc[LANES] = {0};
    for (int64_t b = 0; b < n; b += BLOCK) {
        int64_t e = n - b < BLOCK ? n - b : BLOCK;
        if (passed)
            for (int64_t i = b; i < b + e; i++)
                fat_pact_at(x[i], t, clip, step, levels, out + i, passed + i, dclip + i);
        else
            for (int64_t i = b; i < b + e; i++) {
                float p, d;
                fat_pact_at(x[i], t, clip, step, levels, out + i, &p, &d);
            }
        if (sum)
            add_lanes(acc, out + b, NULL, e);
    }
    if (sum)
        *sum = lanes_total(acc);
}

/* FatPact's backward in one pass, its derivatives computed again from x (cheaper than reading two
   stored ones): gt = grad (+ c, the penalty's gradient on the layer's sum, where `add` is set),
   d/dx = gt * passed, and the lane sum of gt * dclip (d/dclip). */
VECTOR_CLONES
static void fat_pact_backward(const float *restrict grad, const float *restrict x, float *restrict dx, double *dot,
                              int64_t n, float c, int add, float t, float clip, float step, float levels) {
    double acc[LANES] = {0};
    for (int64_t b = 0; b < n; b += BLOCK) {
        int64_t e = n - b < BLOCK ? n - b : BLOCK;
        float gt[BLOCK], dclip[BLOCK];
        /* three loops, not one: merged, they stop vectorizing (ResNet-20 QAT step 1.06 against 0.89
           of a float step, measured) */
        if (add)
            for (int64_t i = 0; i < e; i++)
                gt[i] = grad[b + i] + c;
        else
            for (int64_t i = 0; i < e; i++)
                gt[i] = grad[b + i];
        for (int64_t i = 0; i < e; i++) {
            float y, p;
            fat_pact_at(x[b + i], t, clip, step, levels, &y, &p, dclip + i);
            dx[b + i] = gt[i] * p;
        }
        add_lanes(acc, gt, dclip, e);
    }
    *dot = lanes_total(acc);
}

/* 2x2, stride-2 max pooling of `planes` H x W planes, as ATen's CPU kernel: the first maximum in
   row-major window order wins, a NaN wins over anything, the index is ih * W + iw in the plane.
   Selects instead of branches: activations make the comparisons unpredictable, and the loop over
   output columns vectorizes. */
VECTOR_CLONES
static void max_pool_2x2(const float *restrict x, float *restrict y, int64_t *restrict idx,
                         int64_t planes, int64_t h, int64_t w) {
    int64_t oh = h / 2, ow = w / 2;
    for (int64_t r = 0; r < planes * oh; r++) {
        int64_t i = r % oh;  /* H may be odd: its last row is in no window */
        const float *r0 = x + (r / oh) * h * w + 2 * i * w, *r1 = r0 + w;
        float *yr = y + r * ow;
        int64_t *ir = idx + r * ow;
        for (int64_t j = 0; j < ow; j++) {
            int64_t base = 2 * i * w + 2 * j;
            float v0 = r0[2 * j], v1 = r0[2 * j + 1], v2 = r1[2 * j], v3 = r1[2 * j + 1];
            float best = -INFINITY;
            int64_t at = base;
            int u;
            u = v0 > best || v0 != v0; best = u ? v0 : best; at = u ? base : at;
            u = v1 > best || v1 != v1; best = u ? v1 : best; at = u ? base + 1 : at;
            u = v2 > best || v2 != v2; best = u ? v2 : best; at = u ? base + w : at;
            u = v3 > best || v3 != v3; best = u ? v3 : best; at = u ? base + w + 1 : at;
            yr[j] = best;
            ir[j] = at;
        }
    }
}

/* torch.maximum's value: a NaN in either argument wins, a tie gives b. */
static inline float maximum(float a, float b) { return (a > b || a != a) ? a : b; }

/* The values of 2x2, stride-2 max pooling, as deployed.DeployedNet._pool takes them with
   torch.maximum (a NaN wins), rows first: max is exact, so the order changes no value. */
VECTOR_CLONES
static void max_pool_2x2_values(const float *restrict x, float *restrict y, int64_t planes, int64_t h, int64_t w) {
    int64_t oh = h / 2, ow = w / 2;
    float rows[w];
    for (int64_t r = 0; r < planes * oh; r++) {
        const float *r0 = x + (r / oh) * h * w + 2 * (r % oh) * w, *r1 = r0 + w;
        float *out = y + r * ow;
        for (int64_t k = 0; k < w; k++)
            rows[k] = maximum(r0[k], r1[k]);
        for (int64_t j = 0; j < ow; j++)
            out[j] = maximum(rows[2 * j], rows[2 * j + 1]);
    }
}

/* (x * a[c]) * b[c] over N x C planes of `size` values, rounding after each product as two
   PyTorch multiplications do: BatchNorm's eval-mode derivatives (sharpness.FrozenBatchNorm). */
VECTOR_CLONES
static void scale_channels(const float *restrict x, float *restrict y, const float *restrict a,
                           const float *restrict b, int64_t planes, int64_t channels, int64_t size) {
    for (int64_t p = 0; p < planes; p++) {
        float ac = a[p % channels], bc = b[p % channels];
        const float *xp = x + p * size;
        float *yp = y + p * size;
        for (int64_t i = 0; i < size; i++)
            yp[i] = (xp[i] * ac) * bc;
    }
}

static PyObject *py_fat_pact(PyObject *self, PyObject *args) {
    unsigned long long x, out, passed, dclip;
    long long n;
    int want_sum;
    float t, clip, step, levels;
    double sum = 0.0;
    if (!PyArg_ParseTuple(args, "KKKKLffffp", &x, &out, &passed, &dclip, &n, &t, &clip, &step, &levels, &want_sum))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    fat_pact((const float *)(uintptr_t)x, (float *)(uintptr_t)out, (float *)(uintptr_t)passed,
             (float *)(uintptr_t)dclip, want_sum ? &sum : NULL, n, t, clip, step, levels);
    Py_END_ALLOW_THREADS
    return PyFloat_FromDouble(sum);
}

static PyObject *py_fat_pact_backward(PyObject *self, PyObject *args) {
    unsigned long long grad, x, dx;
    long long n;
    float c, t, clip, step, levels;
    int add;
    double dot = 0.0;
    if (!PyArg_ParseTuple(args, "KKKLfpffff", &grad, &x, &dx, &n, &c, &add, &t, &clip, &step, &levels))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    fat_pact_backward((const float *)(uintptr_t)grad, (const float *)(uintptr_t)x, (float *)(uintptr_t)dx, &dot, n,
                      c, add, t, clip, step, levels);
    Py_END_ALLOW_THREADS
    return PyFloat_FromDouble(dot);
}

static PyObject *py_max_pool_2x2(PyObject *self, PyObject *args) {
    unsigned long long x, y, idx;
    long long planes, h, w;
    if (!PyArg_ParseTuple(args, "KKKLLL", &x, &y, &idx, &planes, &h, &w))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    max_pool_2x2((const float *)(uintptr_t)x, (float *)(uintptr_t)y, (int64_t *)(uintptr_t)idx, planes, h, w);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *py_max_pool_2x2_values(PyObject *self, PyObject *args) {
    unsigned long long x, y;
    long long planes, h, w;
    if (!PyArg_ParseTuple(args, "KKLLL", &x, &y, &planes, &h, &w))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    max_pool_2x2_values((const float *)(uintptr_t)x, (float *)(uintptr_t)y, planes, h, w);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *py_scale_channels(PyObject *self, PyObject *args) {
    unsigned long long x, y, a, b;
    long long planes, channels, size;
    if (!PyArg_ParseTuple(args, "KKKKLLL", &x, &y, &a, &b, &planes, &channels, &size))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    scale_channels((const float *)(uintptr_t)x, (float *)(uintptr_t)y, (const float *)(uintptr_t)a,
                   (const float *)(uintptr_t)b, planes, channels, size);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"fat_pact", py_fat_pact, METH_VARARGS,
     "fat_pact(x, out, passed, dclip, n, threshold, clip, step, levels, want_sum) -> lane sum of out (or 0.0); "
     "passed and dclip 0 for none"},
    {"fat_pact_backward", py_fat_pact_backward, METH_VARARGS,
     "fat_pact_backward(grad, x, dx, n, c, add, threshold, clip, step, levels) -> lane sum of (grad + c) * dclip"},
    {"max_pool_2x2", py_max_pool_2x2, METH_VARARGS,
     "max_pool_2x2(x, y, indices, planes, h, w): addresses of float32 / int64 arrays"},
    {"max_pool_2x2_values", py_max_pool_2x2_values, METH_VARARGS,
     "max_pool_2x2_values(x, y, planes, h, w): addresses of float32 arrays"},
    {"scale_channels", py_scale_channels, METH_VARARGS,
     "scale_channels(x, y, a, b, planes, channels, size): y = (x * a[c]) * b[c], float32 arrays"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_kernels", NULL, -1, methods};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&module); }
