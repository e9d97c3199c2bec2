/* CUDA kernels and the GPU forward pass of a Llama-family model, mirroring
 * src/model/llama.c: f32 activations and KV cache, weights in one dtype (bf16, f16
 * or f32) widened to f32 in registers, so every kernel runs on sm_75 too (no bf16
 * arithmetic there). Decode (one token): warp-per-row GEMVs with 128-bit loads,
 * fused gate/up+SwiGLU and fused residual adds, split-K (flash-decoding) attention,
 * the whole step captured once as a CUDA graph (token id and position are read from
 * device memory, so the graph replays for every step). Prefill: cuBLAS GEMMs with f32
 * accumulation (bf16 inputs only on sm_80+, where cuBLAS has bf16 tensor cores; on
 * older GPUs a tiled f32 GEMM kernel). Every CUDA call is checked. */
#include "backend/cuda/cuda_rt.h"
#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- error plumbing ---- */
#define CK(call)                                                                                                 \
    do {                                                                                                         \
        cudaError_t e_ = (call);                                                                                 \
        if (e_ != cudaSuccess) {                                                                                 \
            snprintf(msg, msz, "%s failed: %s", #call, cudaGetErrorString(e_));                                 \
            return e_ == cudaErrorMemoryAllocation ? LCU_OOM : LCU_FAIL;                                         \
        }                                                                                                        \
    } while (0)
#define CKL()                                                                                                    \
    do {                                                                                                         \
        cudaError_t e_ = cudaGetLastError();                                                                     \
        if (e_ != cudaSuccess) {                                                                                 \
            snprintf(msg, msz, "kernel launch failed (line %d): %s", __LINE__, cudaGetErrorString(e_));          \
            return LCU_FAIL;                                                                                     \
        }                                                                                                        \
    } while (0)
#define CKB(call)                                                                                                \
    do {                                                                                                         \
        cublasStatus_t s_ = (call);                                                                              \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                                                       \
            snprintf(msg, msz, "%s failed: cuBLAS status %d", #call, (int)s_);                                  \
            return s_ == CUBLAS_STATUS_ALLOC_FAILED ? LCU_OOM : LCU_FAIL;                                        \
        }                                                                                                        \
    } while (0)
#define TRY(x)                                                                                                   \
    do {                                                                                                         \
        int r_ = (x);                                                                                            \
        if (r_) return r_;                                                                                       \
    } while (0)

extern "C" int lcu_probe(int device, lcu_devinfo *info, char *msg, size_t msz) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        if (e == cudaErrorNoDevice)
            snprintf(msg, msz, "no CUDA GPU found (%s)", cudaGetErrorString(e));
        else if (e == cudaErrorInsufficientDriver)
            snprintf(msg, msz, "no NVIDIA driver found, or it is older than the CUDA %d.%d runtime llmc was built with (%s)", CUDART_VERSION / 1000,
                     CUDART_VERSION % 1000 / 10, cudaGetErrorString(e));
        else
            snprintf(msg, msz, "no usable CUDA driver or GPU (%s)", cudaGetErrorString(e));
        cudaGetLastError();
        return LCU_NODEV;
    }
    if (n <= 0) {
        snprintf(msg, msz, "no CUDA GPU found");
        return LCU_NODEV;
    }
    if (device < 0 || device >= n) {
        snprintf(msg, msz, "there is no GPU cuda:%d (%d GPU%s found)", device, n, n == 1 ? "" : "s");
        return LCU_NODEV;
    }
    cudaDeviceProp p;
    CK(cudaGetDeviceProperties(&p, device));
    CK(cudaSetDevice(device));
    size_t fr = 0, tot = 0;
    CK(cudaMemGetInfo(&fr, &tot));
    snprintf(info->name, sizeof info->name, "%.127s", p.name);
    info->cc_major = p.major;
    info->cc_minor = p.minor;
    info->sm_count = p.multiProcessorCount;
    info->free_bytes = fr;
    info->total_bytes = tot;
    if (p.major < 7 || (p.major == 7 && p.minor < 5)) {
        snprintf(msg, msz, "%s (sm_%d%d) is older than sm_75, the oldest GPU this build supports", p.name, p.major, p.minor);
        return LCU_NODEV;
    }
    return LCU_OK;
}

/* ---- element types: bf16 kept as raw bits so its widening works on every arch ---- */
struct bf16r { unsigned short x; };

__device__ __forceinline__ float tof(float v) { return v; }
__device__ __forceinline__ float tof(__half v) { return __half2float(v); }
__device__ __forceinline__ float tof(bf16r v) { return __uint_as_float((unsigned)v.x << 16); }
template <typename T> __device__ __forceinline__ T fromf(float v);
template <> __device__ __forceinline__ float fromf<float>(float v) { return v; }
/* Saturating: an activation past f16's range (f16 weights' cuBLAS prefill) stays finite. */
template <> __device__ __forceinline__ __half fromf<__half>(float v) { return __float2half_rn(fminf(fmaxf(v, -65504.f), 65504.f)); }
template <> __device__ __forceinline__ bf16r fromf<bf16r>(float v) {
    unsigned u = __float_as_uint(v);
    bf16r r;
    if ((u & 0x7fffffffu) > 0x7f800000u) r.x = (unsigned short)((u >> 16) | 0x40); /* NaN stays NaN */
    else r.x = (unsigned short)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
    return r;
}

/* 16 bytes of T widened to f32. */
template <typename T> struct vec16;
template <> struct vec16<float> {
    enum { N = 4 };
    static __device__ __forceinline__ void unpack(uint4 u, float *f) {
        f[0] = __uint_as_float(u.x); f[1] = __uint_as_float(u.y); f[2] = __uint_as_float(u.z); f[3] = __uint_as_float(u.w);
    }
};
template <> struct vec16<__half> {
    enum { N = 8 };
    static __device__ __forceinline__ void unpack(uint4 u, float *f) {
        unsigned w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
        for (int i = 0; i < 4; i++) {
            __half2 h = *reinterpret_cast<__half2 *>(&w[i]);
            float2 v = __half22float2(h);
            f[2 * i] = v.x;
            f[2 * i + 1] = v.y;
        }
    }
};
template <> struct vec16<bf16r> {
    enum { N = 8 };
    static __device__ __forceinline__ void unpack(uint4 u, float *f) {
        unsigned w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
        for (int i = 0; i < 4; i++) {
            f[2 * i] = __uint_as_float(w[i] << 16);
            f[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
        }
    }
};

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* Weights are read once per token: stream them past L1 (ld.global.nc.L1::no_allocate). */
__device__ __forceinline__ uint4 ld_stream(const uint4 *p) {
    uint4 r;
    asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w)
                 : "l"(p));
    return r;
}

/* acc += the N weights in u · x[0..N). */
template <typename T> __device__ __forceinline__ void dot16(uint4 u, const float *__restrict__ x, float &acc) {
    constexpr int N = vec16<T>::N;
    float f[N];
    vec16<T>::unpack(u, f);
    const float4 *xv = reinterpret_cast<const float4 *>(x);
#pragma unroll
    for (int j = 0; j < N / 4; j++) {
        float4 p = xv[j];
        acc += f[4 * j] * p.x + f[4 * j + 1] * p.y + f[4 * j + 2] * p.z + f[4 * j + 3] * p.w;
    }
}

/* Dot of one weight row with x (cols % N == 0: 128-bit loads, four in flight per lane,
   so a warp keeps 2 KB of the row on its way from HBM). */
template <typename T>
__device__ __forceinline__ float row_dot(const T *__restrict__ w, const float *__restrict__ x, int cols, int lane) {
    constexpr int N = vec16<T>::N;
    float acc = 0.f;
    if (cols % N == 0) {
        const uint4 *wv = reinterpret_cast<const uint4 *>(w);
        int nv = cols / N, i = lane;
        for (; i + 96 < nv; i += 128) {
            uint4 a = ld_stream(wv + i), b = ld_stream(wv + i + 32), c = ld_stream(wv + i + 64), d = ld_stream(wv + i + 96);
            dot16<T>(a, x + (size_t)i * N, acc);
            dot16<T>(b, x + (size_t)(i + 32) * N, acc);
            dot16<T>(c, x + (size_t)(i + 64) * N, acc);
            dot16<T>(d, x + (size_t)(i + 96) * N, acc);
        }
        for (; i < nv; i += 32) dot16<T>(ld_stream(wv + i), x + (size_t)i * N, acc);
    } else {
        for (int c = lane; c < cols; c += 32) acc += tof(w[c]) * x[c];
    }
    return warp_sum(acc);
}

#define GEMV_WARPS 8
/* y[r] (+)= W[r]·x + b[r], one warp per row. */
template <typename T>
__global__ void __launch_bounds__(GEMV_WARPS * 32) k_gemv(const T *__restrict__ W, const float *__restrict__ b, const float *__restrict__ x,
                                                        float *__restrict__ y, int rows, int cols, int accumulate) {
    int r = blockIdx.x * GEMV_WARPS + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (r >= rows) return;
    float v = row_dot(W + (size_t)r * cols, x, cols, lane);
    if (lane == 0) {
        if (b) v += b[r];
        y[r] = accumulate ? y[r] + v : v;
    }
}

/* out[r] = silu(Wg[r]·x + bg) * (Wu[r]·x + bu): gate, up and SwiGLU in one pass. */
template <typename T>
__global__ void __launch_bounds__(GEMV_WARPS * 32) k_gemv_swiglu(const T *__restrict__ Wg, const T *__restrict__ Wu, const float *__restrict__ bg,
                                                               const float *__restrict__ bu, const float *__restrict__ x, float *__restrict__ out,
                                                               int rows, int cols) {
    int r = blockIdx.x * GEMV_WARPS + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (r >= rows) return;
    float g = row_dot(Wg + (size_t)r * cols, x, cols, lane);
    float u = row_dot(Wu + (size_t)r * cols, x, cols, lane);
    if (lane == 0) {
        if (bg) g += bg[r];
        if (bu) u += bu[r];
        out[r] = g / (1.0f + expf(-g)) * u;
    }
}

template <typename T> __global__ void k_embed(const T *__restrict__ E, const int *__restrict__ ids, float *__restrict__ x, int H) {
    int t = blockIdx.x;
    const T *row = E + (size_t)ids[t] * H;
    for (int i = threadIdx.x; i < H; i += blockDim.x) x[(size_t)t * H + i] = tof(row[i]);
}

/* out[t] = w * (x[t] * rsqrt(mean(x²) + eps)), as llama.c; OutT narrows for cuBLAS. */
template <typename OutT>
__global__ void k_rmsnorm(const float *__restrict__ x, const float *__restrict__ w, OutT *__restrict__ out, int H, float eps, int row0) {
    int t = blockIdx.x;
    const float *xr = x + (size_t)(row0 + t) * H;
    float ss = 0.f;
    for (int i = threadIdx.x; i < H; i += blockDim.x) ss += xr[i] * xr[i];
    __shared__ float red[32];
    ss = warp_sum(ss);
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = ss;
    __syncthreads();
    if (threadIdx.x < 32) {
        float v = threadIdx.x < (blockDim.x >> 5) ? red[threadIdx.x] : 0.f;
        v = warp_sum(v);
        if (threadIdx.x == 0) red[0] = v;
    }
    __syncthreads();
    float r = rsqrtf(red[0] / (float)H + eps);
    for (int i = threadIdx.x; i < H; i += blockDim.x) out[(size_t)t * H + i] = fromf<OutT>(w[i] * (xr[i] * r));
}

template <typename T> __global__ void k_narrow(const float *__restrict__ x, T *__restrict__ y, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) y[i] = fromf<T>(x[i]);
}

__global__ void k_add_bias(float *__restrict__ y, const float *__restrict__ b, int rows, int n) {
    size_t total = (size_t)rows * n;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) y[i] += b[i % rows];
}

__global__ void k_swiglu(float *__restrict__ g, const float *__restrict__ u, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float v = g[i];
        g[i] = v / (1.0f + expf(-v)) * u[i];
    }
}

/* (Qwen3: RMSNorm of each q and k head, a warp per head), then RoPE (rotate_half) on q
   and k of token t in place, then k and v into the cache at pos+t. */
__global__ void k_rope_kv(float *__restrict__ qkv, const int *__restrict__ dpos, const float *__restrict__ inv_freq, float *__restrict__ Kc,
                          float *__restrict__ Vc, int nh, int nkv, int hd, const float *__restrict__ qn, const float *__restrict__ kn,
                          float eps) {
    int t = blockIdx.x, half = hd / 2, qd = nh * hd, kvd = nkv * hd, stride = qd + 2 * kvd;
    int p = *dpos + t;
    float *row = qkv + (size_t)t * stride;
    if (qn) {
        int lane = threadIdx.x & 31, nw = blockDim.x >> 5;
        for (int h = threadIdx.x >> 5; h < nh + nkv; h += nw) {
            float *v = row + (size_t)h * hd;
            const float *w = h < nh ? qn : kn;
            float ss = 0.f;
            for (int i = lane; i < hd; i += 32) ss += v[i] * v[i];
            ss = warp_sum(ss);
            float r = rsqrtf(ss / (float)hd + eps);
            for (int i = lane; i < hd; i += 32) v[i] = w[i] * (v[i] * r);
        }
        __syncthreads();
    }
    for (int idx = threadIdx.x; idx < (nh + nkv) * half; idx += blockDim.x) {
        int h = idx / half, i = idx % half;
        float a = (float)p * inv_freq[i], c = cosf(a), s = sinf(a);
        float *v = row + (size_t)h * hd; /* k heads follow the q heads */
        float x0 = v[i], x1 = v[i + half];
        v[i] = x0 * c - x1 * s;
        v[i + half] = x1 * c + x0 * s;
    }
    __syncthreads();
    for (int i = threadIdx.x; i < kvd; i += blockDim.x) {
        Kc[(size_t)p * kvd + i] = row[qd + i];
        Vc[(size_t)p * kvd + i] = row[qd + kvd + i];
    }
}

/* Attention, split-K: block (t, h, s) takes split s of the keys visible to token t and
   writes an unnormalised partial (max, sum, Σ p·v); k_attn_combine merges the splits.
   Each of the block's warps walks every ATT_WARPS-th key with an online softmax. */
#define ATT_WARPS 4
#define ATT_MAXD 8 /* head_dim / 32 */
__global__ void __launch_bounds__(ATT_WARPS * 32) k_attn_partial(const float *__restrict__ qkv, const float *__restrict__ Kc, const float *__restrict__ Vc,
                                                              const int *__restrict__ dpos, int nh, int nkv, int hd, int window, int S, float scale,
                                                              float *__restrict__ po, float *__restrict__ pm, float *__restrict__ pl) {
    int t = blockIdx.x, h = blockIdx.y, s = blockIdx.z, lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    int qd = nh * hd, kvd = nkv * hd, kh = h / (nh / nkv);
    int qpos = *dpos + t, lo = 0;
    if (window > 0 && qpos - window + 1 > 0) lo = qpos - window + 1;
    int total = qpos - lo + 1, chunk = (total + S - 1) / S;
    int j0 = lo + s * chunk, j1 = min(j0 + chunk, qpos + 1);
    int per = (hd + 31) >> 5; /* lane owns elements lane + 32·i < hd */
    const float *q = qkv + (size_t)t * (qd + 2 * kvd) + (size_t)h * hd;
    float qr[ATT_MAXD], acc[ATT_MAXD];
#pragma unroll
    for (int i = 0; i < ATT_MAXD; i++) {
        qr[i] = i < per && lane + 32 * i < hd ? q[lane + 32 * i] : 0.f;
        acc[i] = 0.f;
    }
    float m = -INFINITY, l = 0.f;
    for (int j = j0 + warp; j < j1; j += ATT_WARPS) {
        const float *k = Kc + (size_t)j * kvd + (size_t)kh * hd, *v = Vc + (size_t)j * kvd + (size_t)kh * hd;
        float d = 0.f;
#pragma unroll
        for (int i = 0; i < ATT_MAXD; i++)
            if (i < per && lane + 32 * i < hd) d += qr[i] * k[lane + 32 * i];
        d = warp_sum(d) * scale;
        float mn = fmaxf(m, d), corr = expf(m - mn), p = expf(d - mn);
        l = l * corr + p;
#pragma unroll
        for (int i = 0; i < ATT_MAXD; i++)
            if (i < per && lane + 32 * i < hd) acc[i] = acc[i] * corr + p * v[lane + 32 * i];
        m = mn;
    }
    __shared__ float sm[ATT_WARPS], sl[ATT_WARPS], sacc[ATT_WARPS][ATT_MAXD * 32];
    if (lane == 0) { sm[warp] = m; sl[warp] = l; }
#pragma unroll
    for (int i = 0; i < ATT_MAXD; i++)
        if (i < per && lane + 32 * i < hd) sacc[warp][lane + 32 * i] = acc[i];
    __syncthreads();
    float M = -INFINITY;
    for (int w = 0; w < ATT_WARPS; w++) M = fmaxf(M, sm[w]);
    size_t unit = ((size_t)t * nh + h) * S + s;
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float o = 0.f;
        if (M != -INFINITY)
            for (int w = 0; w < ATT_WARPS; w++) o += expf(sm[w] - M) * sacc[w][d];
        po[unit * hd + d] = o;
    }
    if (threadIdx.x == 0) {
        float L = 0.f;
        if (M != -INFINITY)
            for (int w = 0; w < ATT_WARPS; w++) L += expf(sm[w] - M) * sl[w];
        pm[unit] = M;
        pl[unit] = L;
    }
}

__global__ void k_attn_combine(const float *__restrict__ po, const float *__restrict__ pm, const float *__restrict__ pl, float *__restrict__ out,
                               int nh, int hd, int S) {
    int t = blockIdx.x, h = blockIdx.y;
    size_t u0 = ((size_t)t * nh + h) * S;
    float M = -INFINITY;
    for (int s = 0; s < S; s++) M = fmaxf(M, pm[u0 + s]);
    float L = 0.f;
    for (int s = 0; s < S; s++)
        if (pm[u0 + s] != -INFINITY) L += expf(pm[u0 + s] - M) * pl[u0 + s];
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float o = 0.f;
        for (int s = 0; s < S; s++)
            if (pm[u0 + s] != -INFINITY) o += expf(pm[u0 + s] - M) * po[(u0 + s) * hd + d];
        out[((size_t)t * nh + h) * hd + d] = o / L;
    }
}

/* Prefill attention, tiled: block (query tile, head) streams the keys its queries can see
   through shared memory in tiles of ATT_KT rows, so each K/V row is read once per
   ATT_QT queries instead of once per query. Each warp owns ATT_QT/ATT_WARPS queries
   (online softmax in registers); the skip tests are warp-uniform. */
#define ATT_QT 16
#define ATT_KT 16
#define ATT_QPW (ATT_QT / ATT_WARPS)
__global__ void __launch_bounds__(ATT_WARPS * 32) k_attn_prefill(const float *__restrict__ qkv, const float *__restrict__ Kc, const float *__restrict__ Vc,
                                                              const int *__restrict__ dpos, int n, int nh, int nkv, int hd, int window, float scale,
                                                              float *__restrict__ out) {
    extern __shared__ float smem[];
    float *Ks = smem, *Vs = smem + ATT_KT * hd;
    int t0 = blockIdx.x * ATT_QT, h = blockIdx.y, lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    int qd = nh * hd, kvd = nkv * hd, kh = h / (nh / nkv), per = (hd + 31) >> 5;
    int pos = *dpos, tmax = min(t0 + ATT_QT, n) - 1;
    int lo_blk = 0;
    if (window > 0 && pos + t0 - window + 1 > 0) lo_blk = pos + t0 - window + 1;
    int hi_blk = pos + tmax;
    float qr[ATT_QPW][ATT_MAXD], acc[ATT_QPW][ATT_MAXD], m[ATT_QPW], l[ATT_QPW];
    int qpos[ATT_QPW], lo[ATT_QPW];
#pragma unroll
    for (int k = 0; k < ATT_QPW; k++) {
        int t = t0 + warp * ATT_QPW + k;
        qpos[k] = t < n ? pos + t : -1; /* -1: no query (past the batch) */
        lo[k] = 0;
        if (window > 0 && qpos[k] - window + 1 > 0) lo[k] = qpos[k] - window + 1;
        const float *q = qkv + (size_t)(t < n ? t : 0) * (qd + 2 * kvd) + (size_t)h * hd;
        m[k] = -INFINITY;
        l[k] = 0.f;
#pragma unroll
        for (int i = 0; i < ATT_MAXD; i++) {
            qr[k][i] = t < n && i < per && lane + 32 * i < hd ? q[lane + 32 * i] : 0.f;
            acc[k][i] = 0.f;
        }
    }
    for (int j0 = lo_blk; j0 <= hi_blk; j0 += ATT_KT) {
        int rows = min(ATT_KT, hi_blk - j0 + 1);
        __syncthreads();
        for (int e = threadIdx.x; e < rows * hd; e += blockDim.x) {
            int r = e / hd, d = e % hd;
            Ks[r * hd + d] = Kc[(size_t)(j0 + r) * kvd + (size_t)kh * hd + d];
            Vs[r * hd + d] = Vc[(size_t)(j0 + r) * kvd + (size_t)kh * hd + d];
        }
        __syncthreads();
        for (int r = 0; r < rows; r++) {
            int j = j0 + r;
            const float *kr = Ks + r * hd, *vr = Vs + r * hd;
#pragma unroll
            for (int k = 0; k < ATT_QPW; k++) {
                if (j > qpos[k] || j < lo[k]) continue;
                float d = 0.f;
#pragma unroll
                for (int i = 0; i < ATT_MAXD; i++)
                    if (i < per && lane + 32 * i < hd) d += qr[k][i] * kr[lane + 32 * i];
                d = warp_sum(d) * scale;
                float mn = fmaxf(m[k], d), corr = expf(m[k] - mn), p = expf(d - mn);
                l[k] = l[k] * corr + p;
#pragma unroll
                for (int i = 0; i < ATT_MAXD; i++)
                    if (i < per && lane + 32 * i < hd) acc[k][i] = acc[k][i] * corr + p * vr[lane + 32 * i];
                m[k] = mn;
            }
        }
    }
#pragma unroll
    for (int k = 0; k < ATT_QPW; k++) {
        if (qpos[k] < 0) continue;
        int t = qpos[k] - pos;
        float inv = 1.f / l[k];
#pragma unroll
        for (int i = 0; i < ATT_MAXD; i++)
            if (i < per && lane + 32 * i < hd) out[((size_t)t * nh + h) * hd + lane + 32 * i] = acc[k][i] * inv;
    }
}

/* Y[n][R] (+)= X[n][K] · W[R][K]ᵀ in f32: the prefill GEMM where cuBLAS has no tensor-core
   path for the weight dtype (bf16 before sm_80). 64×64 tiles, 4×4 per thread. */
template <typename T>
__global__ void __launch_bounds__(256) k_gemm_tiled(const float *__restrict__ X, const T *__restrict__ W, float *__restrict__ Y, int n, int R, int K,
                                                   int accumulate) {
    __shared__ float Ws[16][65], Xs[16][65];
    int r0 = blockIdx.x * 64, t0 = blockIdx.y * 64, tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    float acc[4][4] = {};
    for (int k0 = 0; k0 < K; k0 += 16) {
        for (int e = threadIdx.x; e < 64 * 16; e += 256) {
            int rr = e / 16, kk = e % 16;
            int r = r0 + rr, t = t0 + rr, k = k0 + kk;
            Ws[kk][rr] = (r < R && k < K) ? tof(W[(size_t)r * K + k]) : 0.f;
            Xs[kk][rr] = (t < n && k < K) ? X[(size_t)t * K + k] : 0.f;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < 16; kk++) {
            float a[4], b[4];
#pragma unroll
            for (int i = 0; i < 4; i++) { a[i] = Ws[kk][tx + 16 * i]; b[i] = Xs[kk][ty + 16 * i]; }
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++) acc[i][j] += a[i] * b[j];
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int r = r0 + tx + 16 * i, t = t0 + ty + 16 * j;
            if (r < R && t < n) {
                float *y = Y + (size_t)t * R + r;
                *y = accumulate ? *y + acc[i][j] : acc[i][j];
            }
        }
}

/* ---- token choice on the GPU (backend/select.h's contract) ---- */
struct sel_par {
    int mode; /* 1 greedy, 2 top-k */
    float penalty, temperature;
    int top_k;
};
#define SEL_THREADS 1024

/* hist[pos + t] = ids[t]: the ids the KV cache holds, for the repetition penalty. */
__global__ void k_hist_store(const int *__restrict__ dio, int *__restrict__ hist, int n) {
    for (int t = threadIdx.x; t < n; t += blockDim.x) hist[dio[0] + t] = dio[1 + t];
}

/* sel = the scores choice works on: logits / temperature (top-k with temperature != 1)
   or a copy; the penalized ids are overwritten by k_pen_scatter. */
__global__ void k_sel_prep(const float *__restrict__ lg, float *__restrict__ sel, int V, const sel_par *__restrict__ p) {
    float t = p->temperature;
    bool div = p->mode == 2 && t != 1.0f;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < V; i += gridDim.x * blockDim.x) sel[i] = div ? lg[i] / t : lg[i];
}

/* Repetition penalty as transformers' gather/scatter: every occurrence of an id computes
   the same value from the raw logit, so duplicates write it once in effect. */
__global__ void k_pen_gather(const float *__restrict__ lg, const int *__restrict__ hist, const int *__restrict__ dio, int n,
                             const sel_par *__restrict__ p, float *__restrict__ tmp, int V) {
    float pen = p->penalty, t = p->temperature;
    if (pen == 1.0f) return;
    bool div = p->mode == 2 && t != 1.0f;
    int cnt = dio[0] + n;
    for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < cnt; j += gridDim.x * blockDim.x) {
        int id = hist[j];
        if (id < 0 || id >= V) continue;
        float x = lg[id];
        x = x < 0 ? x * pen : x / pen;
        tmp[j] = div ? x / t : x;
    }
}
__global__ void k_pen_scatter(float *__restrict__ sel, const int *__restrict__ hist, const int *__restrict__ dio, int n,
                              const sel_par *__restrict__ p, const float *__restrict__ tmp, int V) {
    if (p->penalty == 1.0f) return;
    int cnt = dio[0] + n;
    for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < cnt; j += gridDim.x * blockDim.x) {
        int id = hist[j];
        if (id >= 0 && id < V) sel[id] = tmp[j];
    }
}

/* (value, index) better than (bv, bi): larger, or equal and earlier (torch.argmax). */
__device__ __forceinline__ bool am_better(float v, int i, float bv, int bi) {
    return i >= 0 && (bi < 0 || v > bv || (v == bv && i < bi));
}

/* Greedy: the first index of the largest non-NaN score; one block. */
__global__ void __launch_bounds__(SEL_THREADS) k_argmax(const float *__restrict__ sel, int V, lcu_choice *__restrict__ out) {
    float bv = -INFINITY;
    int bi = -1;
    for (int i = threadIdx.x; i < V; i += blockDim.x) {
        float v = sel[i];
        if (!isnan(v) && (bi < 0 || v > bv)) { bv = v; bi = i; }
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_xor_sync(0xffffffffu, bv, o);
        int oi = __shfl_xor_sync(0xffffffffu, bi, o);
        if (am_better(ov, oi, bv, bi)) { bv = ov; bi = oi; }
    }
    __shared__ float sv[32];
    __shared__ int si[32];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) { sv[warp] = bv; si[warp] = bi; }
    __syncthreads();
    if (warp == 0) {
        int nw = blockDim.x >> 5;
        bv = lane < nw ? sv[lane] : -INFINITY;
        bi = lane < nw ? si[lane] : -1;
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) {
            float ov = __shfl_xor_sync(0xffffffffu, bv, o);
            int oi = __shfl_xor_sync(0xffffffffu, bi, o);
            if (am_better(ov, oi, bv, bi)) { bv = ov; bi = oi; }
        }
        if (lane == 0) {
            out->status = 0;
            out->id = bi;
            out->n = 0;
        }
    }
}

/* Order-preserving key of a float (-0 as +0, so keys compare as the floats do). */
__device__ __forceinline__ unsigned fkey(float v) {
    unsigned u = __float_as_uint(v);
    if (u == 0x80000000u) u = 0;
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

/* Top-k: the k-th largest non-NaN key by a 4-pass radix select (8 bits a pass, histogram
   in shared memory with warp-aggregated adds), then every id whose key is >= it, in id
   order (ballot + block scan), up to LCU_SEL_CAP of them. One block. */
__global__ void __launch_bounds__(SEL_THREADS) k_topk(const float *__restrict__ sel, int V, const sel_par *__restrict__ p, lcu_choice *__restrict__ out) {
    __shared__ unsigned hist[257];
    __shared__ unsigned s_prefix;
    __shared__ int s_rem, s_cnt, s_total;
    __shared__ int wsum[32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    int k = p->top_k;
    if (threadIdx.x == 0) s_cnt = 0;
    __syncthreads();
    int mine = 0;
    for (int i = threadIdx.x; i < V; i += blockDim.x) mine += !isnan(sel[i]);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) mine += __shfl_xor_sync(0xffffffffu, mine, o);
    if (lane == 0) atomicAdd(&s_cnt, mine);
    __syncthreads();
    if (k <= 0 || k > s_cnt) { /* nothing to cut (or nothing valid): the host decides */
        if (threadIdx.x == 0) { out->status = 1; out->n = 0; out->id = -1; }
        return;
    }
    unsigned prefix = 0, mask = 0;
    int rem = k;
    for (int shift = 24; shift >= 0; shift -= 8) {
        for (int b = threadIdx.x; b < 257; b += blockDim.x) hist[b] = 0;
        __syncthreads();
        for (int c0 = 0; c0 < V; c0 += blockDim.x) { /* warp-uniform trip count */
            int i = c0 + threadIdx.x;
            unsigned bin = 256;
            if (i < V) {
                float v = sel[i];
                unsigned key = fkey(v);
                if (!isnan(v) && (key & mask) == prefix) bin = (key >> shift) & 255u;
            }
            unsigned peers = __match_any_sync(0xffffffffu, bin);
            if (bin < 256 && lane == __ffs(peers) - 1) atomicAdd(&hist[bin], (unsigned)__popc(peers));
        }
        __syncthreads();
        if (threadIdx.x == 0) {
            int r = rem, d = 255;
            for (; d > 0; d--) {
                if ((unsigned)r <= hist[d]) break;
                r -= (int)hist[d];
            }
            s_prefix = prefix | ((unsigned)d << shift);
            s_rem = r;
        }
        __syncthreads();
        prefix = s_prefix;
        rem = s_rem;
        mask |= 255u << shift;
        __syncthreads();
    }
    /* prefix is the k-th largest key: keep key >= prefix, in id order. */
    int base = 0;
    for (int c0 = 0; c0 < V; c0 += blockDim.x) {
        int i = c0 + threadIdx.x;
        float v = i < V ? sel[i] : 0.f;
        bool keep = i < V && !isnan(v) && fkey(v) >= prefix;
        unsigned b = __ballot_sync(0xffffffffu, keep);
        if (lane == 0) wsum[warp] = __popc(b);
        __syncthreads();
        if (warp == 0) {
            int c = lane < nw ? wsum[lane] : 0, inc = c;
#pragma unroll
            for (int o = 1; o < 32; o <<= 1) {
                int y = __shfl_up_sync(0xffffffffu, inc, o);
                if (lane >= o) inc += y;
            }
            if (lane < nw) wsum[lane] = inc - c; /* exclusive */
            if (lane == 31) s_total = inc;
        }
        __syncthreads();
        if (keep) {
            int o = base + wsum[warp] + __popc(b & ((1u << lane) - 1u));
            if (o < LCU_SEL_CAP) {
                out->ids[o] = i;
                out->vals[o] = v;
            }
        }
        base += s_total;
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        out->n = base < LCU_SEL_CAP ? base : LCU_SEL_CAP;
        out->status = base > LCU_SEL_CAP ? 1 : 0;
        out->id = -1;
    }
}

/* ---- the model ---- */
struct lcu_layer {
    void *wqkv, *wo, *wg, *wu, *wd; /* wqkv: q, k, v rows stacked */
    float *bqkv, *bo, *bg, *bu, *bd, *ln1, *ln2, *qn, *kn; /* qn, kn: Qwen3's q/k head norms or NULL */
    float *K, *V;                   /* [ctx][kvd] */
};

struct lcu_model {
    lcu_shape s;
    int qd, kvd, cc_major, sms;
    size_t es;                      /* bytes per weight */
    lcu_layer *layers;
    void *embed, *head;             /* head == embed when tied (no separate upload) */
    float *norm, *inv_freq;
    /* workspace */
    float *x, *xn, *qkv, *att, *g, *u, *po, *pm, *pl, *logits;
    void *xt;                       /* activations narrowed for cuBLAS */
    int *d_io;                      /* [0] pos, [1..batch] ids */
    int *h_io;                      /* pinned mirror of d_io */
    float *h_logits;                /* pinned, V floats */
    size_t po_units;
    cudaStream_t st;
    cublasHandle_t blas;
    bool cublas_ok;                 /* cuBLAS GEMMs for this weight dtype on this GPU */
    cudaGraphExec_t graph[3];       /* decode step per choice mode: 0 logits, 1 greedy, 2 top-k */
    bool graph_failed;
    /* token choice */
    int *d_hist;                    /* [ctx] ids at each cached position */
    float *sel, *pen_tmp;           /* [V] processed scores, [ctx] penalized values */
    sel_par *d_par, *h_par;         /* device copy / pinned host side of the request */
    lcu_choice *d_choice, *h_choice;
    int attn_mode;                  /* LLMC_CUDA_ATTN: 0 auto, 1 tiled prefill kernel, 2 split-K kernel */
    int head_uploaded;
};

extern "C" size_t lcu_slot_bytes(const lcu_shape *s, int slot) {
    size_t es = s->wtype == LCU_W_F32 ? 4 : 2, H = (size_t)s->H, I = (size_t)s->I;
    size_t qd = (size_t)s->nh * s->hd, kvd = (size_t)s->nkv * s->hd;
    switch (slot) {
    case LCU_EMBED: case LCU_HEAD: return (size_t)s->V * H * es;
    case LCU_NORM: case LCU_LN1: case LCU_LN2: case LCU_BO: case LCU_BD: return H * 4;
    case LCU_INV_FREQ: return (size_t)s->hd / 2 * 4;
    case LCU_QN: case LCU_KN: return (size_t)s->hd * 4;
    case LCU_WQ: case LCU_WO: return qd * H * es;
    case LCU_WK: case LCU_WV: return kvd * H * es;
    case LCU_WG: case LCU_WU: case LCU_WD: return I * H * es;
    case LCU_BQ: return qd * 4;
    case LCU_BK: case LCU_BV: return kvd * 4;
    case LCU_BG: case LCU_BU: return I * 4;
    }
    return 0;
}

static int dalloc(void **p, size_t n, char *msg, size_t msz) {
    *p = NULL;
    cudaError_t e = cudaMalloc(p, n ? n : 16);
    if (e != cudaSuccess) {
        cudaGetLastError();
        *p = NULL;
        snprintf(msg, msz, "CUDA out of memory allocating %.1f MiB (%s)", (double)n / 1048576.0, cudaGetErrorString(e));
        return e == cudaErrorMemoryAllocation ? LCU_OOM : LCU_FAIL;
    }
    return LCU_OK;
}
#define DALLOC(ptr, n) TRY(dalloc((void **)&(ptr), (n), msg, msz))

extern "C" void lcu_model_free(lcu_model *m) {
    if (!m) return;
    for (int i = 0; i < 3; i++)
        if (m->graph[i]) cudaGraphExecDestroy(m->graph[i]);
    if (m->layers) {
        for (int l = 0; l < m->s.n_layers; l++) {
            lcu_layer *L = &m->layers[l];
            void *ps[] = {L->wqkv, L->wo, L->wg, L->wu, L->wd, L->bqkv, L->bo, L->bg, L->bu, L->bd, L->ln1, L->ln2, L->qn, L->kn, L->K, L->V};
            for (size_t i = 0; i < sizeof ps / sizeof *ps; i++) cudaFree(ps[i]);
        }
        free(m->layers);
    }
    if (m->head && m->head != m->embed) cudaFree(m->head);
    void *ps[] = {m->embed, m->norm, m->inv_freq, m->x,  m->xn,     m->qkv,    m->att,   m->g,    m->u,       m->po,
                  m->pm,    m->pl,   m->logits,   m->xt, m->d_io, m->d_hist, m->sel, m->pen_tmp, m->d_par, m->d_choice};
    for (size_t i = 0; i < sizeof ps / sizeof *ps; i++) cudaFree(ps[i]);
    if (m->h_io) cudaFreeHost(m->h_io);
    if (m->h_par) cudaFreeHost(m->h_par);
    if (m->h_choice) cudaFreeHost(m->h_choice);
    if (m->h_logits) cudaFreeHost(m->h_logits);
    if (m->blas) cublasDestroy(m->blas);
    if (m->st) cudaStreamDestroy(m->st);
    cudaGetLastError();
    free(m);
}

static int model_alloc(lcu_model *m, const lcu_shape *s, char *msg, size_t msz) {
    CK(cudaSetDevice(s->device));
    cudaDeviceProp p;
    CK(cudaGetDeviceProperties(&p, s->device));
    m->cc_major = p.major;
    m->sms = p.multiProcessorCount;
    CK(cudaStreamCreateWithFlags(&m->st, cudaStreamNonBlocking));
    CKB(cublasCreate(&m->blas));
    CKB(cublasSetStream(m->blas, m->st));
    /* f32 weights: plain f32 math (no TF32) so prefill matches the CPU backend. */
    CKB(cublasSetMathMode(m->blas, CUBLAS_DEFAULT_MATH));
    m->cublas_ok = s->wtype != LCU_W_BF16 || p.major >= 8;
    /* LLMC_CUDA_PREFILL=f32: prefill GEMMs in f32 on unrounded activations (parity checks). */
    const char *pf = getenv("LLMC_CUDA_PREFILL");
    if (pf && !strcmp(pf, "f32")) m->cublas_ok = false;
    const char *am = getenv("LLMC_CUDA_ATTN");
    m->attn_mode = am && !strcmp(am, "tiled") ? 1 : am && !strcmp(am, "split") ? 2 : 0;
    size_t H = s->H, I = s->I, B = s->batch, V = s->V, es = m->es;
    size_t qd = m->qd, kvd = m->kvd;
    m->layers = (lcu_layer *)calloc((size_t)(s->n_layers > 0 ? s->n_layers : 1), sizeof *m->layers);
    if (!m->layers) { snprintf(msg, msz, "out of host memory"); return LCU_OOM; }
    DALLOC(m->embed, V * H * es);
    DALLOC(m->inv_freq, (size_t)s->hd / 2 * 4);
    if (s->head) {
        DALLOC(m->norm, H * 4);
        m->head = m->embed; /* until a separate lm_head is uploaded */
    }
    for (int l = 0; l < s->n_layers; l++) {
        lcu_layer *L = &m->layers[l];
        DALLOC(L->wqkv, (qd + 2 * kvd) * H * es);
        DALLOC(L->wo, H * qd * es);
        DALLOC(L->wg, I * H * es);
        DALLOC(L->wu, I * H * es);
        DALLOC(L->wd, H * I * es);
        DALLOC(L->ln1, H * 4);
        DALLOC(L->ln2, H * 4);
        if (s->attn_bias) {
            DALLOC(L->bqkv, (qd + 2 * kvd) * 4);
            CK(cudaMemset(L->bqkv, 0, (qd + 2 * kvd) * 4));
        }
        if (s->o_bias) {
            DALLOC(L->bo, H * 4);
            CK(cudaMemset(L->bo, 0, H * 4));
        }
        if (s->qk_norm) {
            DALLOC(L->qn, (size_t)s->hd * 4);
            DALLOC(L->kn, (size_t)s->hd * 4);
        }
        if (s->mlp_bias) {
            DALLOC(L->bg, I * 4);
            DALLOC(L->bu, I * 4);
            DALLOC(L->bd, H * 4);
            CK(cudaMemset(L->bg, 0, I * 4));
            CK(cudaMemset(L->bu, 0, I * 4));
            CK(cudaMemset(L->bd, 0, H * 4));
        }
        DALLOC(L->K, (size_t)s->ctx * kvd * 4);
        DALLOC(L->V, (size_t)s->ctx * kvd * 4);
    }
    DALLOC(m->x, B * H * 4);
    DALLOC(m->xn, B * H * 4);
    DALLOC(m->qkv, B * (qd + 2 * kvd) * 4);
    DALLOC(m->att, B * qd * 4);
    DALLOC(m->g, B * I * 4);
    DALLOC(m->u, B * I * 4);
    size_t widest = H > I ? H : I;
    if (qd > widest) widest = qd;
    DALLOC(m->xt, B * widest * es);
    m->po_units = B * s->nh > (size_t)LCU_DEC_SPLITS * s->nh ? B * s->nh : (size_t)LCU_DEC_SPLITS * s->nh;
    DALLOC(m->po, m->po_units * s->hd * 4);
    DALLOC(m->pm, m->po_units * 4);
    DALLOC(m->pl, m->po_units * 4);
    if (s->head) DALLOC(m->logits, (B < LCU_LOGIT_CHUNK ? B : LCU_LOGIT_CHUNK) * V * 4);
    DALLOC(m->d_io, (B + 1) * 4);
    DALLOC(m->d_hist, (size_t)s->ctx * 4);
    CK(cudaMemset(m->d_hist, 0, (size_t)s->ctx * 4));
    if (s->head) {
        DALLOC(m->sel, V * 4);
        DALLOC(m->pen_tmp, (size_t)s->ctx * 4);
        DALLOC(m->d_par, sizeof(sel_par));
        DALLOC(m->d_choice, sizeof(lcu_choice));
        CK(cudaMallocHost((void **)&m->h_par, sizeof(sel_par)));
        CK(cudaMallocHost((void **)&m->h_choice, sizeof(lcu_choice)));
    }
    CK(cudaMallocHost((void **)&m->h_io, (B + 1) * 4));
    CK(cudaMallocHost((void **)&m->h_logits, V * 4));
    return LCU_OK;
}

extern "C" int lcu_model_new(const lcu_shape *s, lcu_model **out, char *msg, size_t msz) {
    *out = NULL;
    if (s->hd <= 0 || s->hd % 2 || s->hd > 32 * ATT_MAXD || s->nh % s->nkv || s->batch <= 0 || s->ctx <= 0) {
        snprintf(msg, msz, "unsupported shape for the CUDA kernels (head_dim %d must be even and at most %d)", s->hd, 32 * ATT_MAXD);
        return LCU_FAIL;
    }
    lcu_model *m = (lcu_model *)calloc(1, sizeof *m);
    if (!m) { snprintf(msg, msz, "out of host memory"); return LCU_OOM; }
    m->s = *s;
    m->qd = s->nh * s->hd;
    m->kvd = s->nkv * s->hd;
    m->es = s->wtype == LCU_W_F32 ? 4 : 2;
    int rc = model_alloc(m, s, msg, msz);
    if (rc) {
        lcu_model_free(m);
        return rc;
    }
    *out = m;
    return LCU_OK;
}

extern "C" int lcu_upload(lcu_model *m, int slot, int layer, const void *host, size_t bytes, char *msg, size_t msz) {
    const lcu_shape *s = &m->s;
    if (slot < 0 || slot >= LCU_SLOT_COUNT || bytes != lcu_slot_bytes(s, slot) || (slot >= LCU_WQ && (layer < 0 || layer >= s->n_layers))) {
        snprintf(msg, msz, "upload: slot %d layer %d: %zu bytes, expected %zu", slot, layer, bytes, lcu_slot_bytes(s, slot));
        return LCU_FAIL;
    }
    size_t H = s->H, es = m->es, qd = m->qd, kvd = m->kvd;
    lcu_layer *L = slot >= LCU_WQ ? &m->layers[layer] : NULL;
    char *dst = NULL;
    switch (slot) {
    case LCU_EMBED: dst = (char *)m->embed; break;
    case LCU_HEAD:
        if (!s->head) { snprintf(msg, msz, "upload: no head on this GPU"); return LCU_FAIL; }
        if (m->head == m->embed) TRY(dalloc(&m->head, bytes, msg, msz));
        dst = (char *)m->head;
        break;
    case LCU_NORM:
        if (!s->head) { snprintf(msg, msz, "upload: no head on this GPU"); return LCU_FAIL; }
        dst = (char *)m->norm;
        break;
    case LCU_INV_FREQ: dst = (char *)m->inv_freq; break;
    case LCU_WQ: dst = (char *)L->wqkv; break;
    case LCU_WK: dst = (char *)L->wqkv + qd * H * es; break;
    case LCU_WV: dst = (char *)L->wqkv + (qd + kvd) * H * es; break;
    case LCU_WO: dst = (char *)L->wo; break;
    case LCU_WG: dst = (char *)L->wg; break;
    case LCU_WU: dst = (char *)L->wu; break;
    case LCU_WD: dst = (char *)L->wd; break;
    case LCU_BQ: dst = (char *)L->bqkv; break;
    case LCU_BK: dst = L->bqkv ? (char *)(L->bqkv + qd) : NULL; break;
    case LCU_BV: dst = L->bqkv ? (char *)(L->bqkv + qd + kvd) : NULL; break;
    case LCU_BO: dst = (char *)L->bo; break;
    case LCU_BG: dst = (char *)L->bg; break;
    case LCU_BU: dst = (char *)L->bu; break;
    case LCU_BD: dst = (char *)L->bd; break;
    case LCU_LN1: dst = (char *)L->ln1; break;
    case LCU_LN2: dst = (char *)L->ln2; break;
    case LCU_QN: dst = (char *)L->qn; break;
    case LCU_KN: dst = (char *)L->kn; break;
    }
    if (!dst) {
        snprintf(msg, msz, "upload: slot %d has no buffer (bias not enabled in the config)", slot);
        return LCU_FAIL;
    }
    CK(cudaMemcpy(dst, host, bytes, cudaMemcpyHostToDevice));
    return LCU_OK;
}

/* ---- forward ---- */

static unsigned grid_for(size_t n) {
    size_t g = (n + 255) / 256;
    return (unsigned)(g > 4096 ? 4096 : g ? g : 1);
}

template <typename T> static cudaDataType_t cuda_type();
template <> cudaDataType_t cuda_type<float>() { return CUDA_R_32F; }
template <> cudaDataType_t cuda_type<__half>() { return CUDA_R_16F; }
template <> cudaDataType_t cuda_type<bf16r>() { return CUDA_R_16BF; }

/* Y[n][rows] (+)= X[n][cols] · Wᵀ + b. */
template <typename T>
static int linear(lcu_model *m, const void *Wv, const float *b, const float *X, int n, int rows, int cols, float *Y, bool acc, char *msg, size_t msz) {
    const T *W = (const T *)Wv;
    if (n == 1) {
        k_gemv<T><<<(rows + GEMV_WARPS - 1) / GEMV_WARPS, GEMV_WARPS * 32, 0, m->st>>>(W, b, X, Y, rows, cols, acc);
        CKL();
        return LCU_OK;
    }
    if (m->cublas_ok) {
        const void *Xin = X;
        if (cuda_type<T>() != CUDA_R_32F) {
            k_narrow<T><<<grid_for((size_t)n * cols), 256, 0, m->st>>>(X, (T *)m->xt, (size_t)n * cols);
            CKL();
            Xin = m->xt;
        }
        float one = 1.f, beta = acc ? 1.f : 0.f;
        CKB(cublasGemmEx(m->blas, CUBLAS_OP_T, CUBLAS_OP_N, rows, n, cols, &one, W, cuda_type<T>(), cols, Xin, cuda_type<T>(), cols, &beta, Y,
                         CUDA_R_32F, rows, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    } else {
        dim3 grid((rows + 63) / 64, (n + 63) / 64);
        k_gemm_tiled<T><<<grid, 256, 0, m->st>>>(X, W, Y, n, rows, cols, acc);
        CKL();
    }
    if (b) {
        k_add_bias<<<grid_for((size_t)rows * n), 256, 0, m->st>>>(Y, b, rows, n);
        CKL();
    }
    return LCU_OK;
}

/* Everything after the ids/pos are in d_io: embeddings, GPU layers, head. Graph-capturable
   when n == 1 (no host-side branching on the position). */
template <typename T> static int run_layers(lcu_model *m, int n, int S, bool head, int head_rows, int head_row0, char *msg, size_t msz) {
    const lcu_shape *s = &m->s;
    const int H = s->H, I = s->I, qd = m->qd, kvd = m->kvd, nh = s->nh;
    int threads = H >= 1024 ? 1024 : ((H + 31) / 32) * 32;
    k_hist_store<<<1, 256, 0, m->st>>>(m->d_io, m->d_hist, n);
    CKL();
    k_embed<T><<<n, 256, 0, m->st>>>((const T *)m->embed, m->d_io + 1, m->x, H);
    CKL();
    float scale = 1.0f / sqrtf((float)s->hd);
    for (int l = 0; l < s->n_layers; l++) {
        lcu_layer *L = &m->layers[l];
        k_rmsnorm<float><<<n, threads, 0, m->st>>>(m->x, L->ln1, m->xn, H, s->eps, 0);
        CKL();
        TRY(linear<T>(m, L->wqkv, L->bqkv, m->xn, n, qd + 2 * kvd, H, m->qkv, false, msg, msz));
        k_rope_kv<<<n, 256, 0, m->st>>>(m->qkv, m->d_io, m->inv_freq, L->K, L->V, nh, s->nkv, s->hd, L->qn, L->kn, s->eps);
        CKL();
        /* Tiled when its (fewer, longer) blocks still fill the GPU; short prompts do better
           with a block per (token, head). */
        bool tiled = m->attn_mode == 1 || (m->attn_mode == 0 && n >= ATT_QT && S == 1 &&
                                           (size_t)((n + ATT_QT - 1) / ATT_QT) * nh >= (size_t)2 * m->sms);
        if (tiled && n > 1) {
            k_attn_prefill<<<dim3((n + ATT_QT - 1) / ATT_QT, nh), ATT_WARPS * 32, 2 * ATT_KT * s->hd * sizeof(float), m->st>>>(
                m->qkv, L->K, L->V, m->d_io, n, nh, s->nkv, s->hd, s->window, scale, m->att);
            CKL();
        } else {
            k_attn_partial<<<dim3(n, nh, S), ATT_WARPS * 32, 0, m->st>>>(m->qkv, L->K, L->V, m->d_io, nh, s->nkv, s->hd, s->window, S, scale,
                                                                         m->po, m->pm, m->pl);
            CKL();
            k_attn_combine<<<dim3(n, nh), s->hd, 0, m->st>>>(m->po, m->pm, m->pl, m->att, nh, s->hd, S);
            CKL();
        }
        TRY(linear<T>(m, L->wo, L->bo, m->att, n, H, qd, m->x, true, msg, msz));
        k_rmsnorm<float><<<n, threads, 0, m->st>>>(m->x, L->ln2, m->xn, H, s->eps, 0);
        CKL();
        if (n == 1) {
            k_gemv_swiglu<T><<<(I + GEMV_WARPS - 1) / GEMV_WARPS, GEMV_WARPS * 32, 0, m->st>>>((const T *)L->wg, (const T *)L->wu, L->bg, L->bu, m->xn,
                                                                                               m->g, I, H);
            CKL();
        } else {
            TRY(linear<T>(m, L->wg, L->bg, m->xn, n, I, H, m->g, false, msg, msz));
            TRY(linear<T>(m, L->wu, L->bu, m->xn, n, I, H, m->u, false, msg, msz));
            k_swiglu<<<grid_for((size_t)n * I), 256, 0, m->st>>>(m->g, m->u, (size_t)n * I);
            CKL();
        }
        TRY(linear<T>(m, L->wd, L->bd, m->g, n, H, I, m->x, true, msg, msz));
    }
    if (head) {
        k_rmsnorm<float><<<head_rows, threads, 0, m->st>>>(m->x, m->norm, m->xn, H, s->eps, head_row0);
        CKL();
        TRY(linear<T>(m, m->head, NULL, m->xn, head_rows, s->V, H, m->logits, false, msg, msz));
    }
    return LCU_OK;
}

/* After the head (logits of one row in m->logits): the request from h_par, the processed
   scores, the choice, and its copy into pinned h_choice (the id only when greedy). */
static int select_enqueue(lcu_model *m, int n, int mode, char *msg, size_t msz) {
    const int V = m->s.V;
    CK(cudaMemcpyAsync(m->d_par, m->h_par, sizeof(sel_par), cudaMemcpyHostToDevice, m->st));
    k_sel_prep<<<grid_for((size_t)V), 256, 0, m->st>>>(m->logits, m->sel, V, m->d_par);
    CKL();
    unsigned hg = grid_for((size_t)m->s.ctx);
    k_pen_gather<<<hg, 256, 0, m->st>>>(m->logits, m->d_hist, m->d_io, n, m->d_par, m->pen_tmp, V);
    CKL();
    k_pen_scatter<<<hg, 256, 0, m->st>>>(m->sel, m->d_hist, m->d_io, n, m->d_par, m->pen_tmp, V);
    CKL();
    if (mode == 1) {
        k_argmax<<<1, SEL_THREADS, 0, m->st>>>(m->sel, V, m->d_choice);
        CKL();
        CK(cudaMemcpyAsync(m->h_choice, m->d_choice, 4 * sizeof(int), cudaMemcpyDeviceToHost, m->st));
    } else {
        k_topk<<<1, SEL_THREADS, 0, m->st>>>(m->sel, V, m->d_par, m->d_choice);
        CKL();
        CK(cudaMemcpyAsync(m->h_choice, m->d_choice, sizeof(lcu_choice), cudaMemcpyDeviceToHost, m->st));
    }
    return LCU_OK;
}

/* mode 0: logits (and hidden) as lcu_forward; 1/2: the choice of h_par into h_choice. */
template <typename T>
static int forward_t(lcu_model *m, const int32_t *ids, int n, int pos, float *logits, int all_logits, float *hidden, int mode, char *msg,
                     size_t msz) {
    const lcu_shape *s = &m->s;
    const size_t V = s->V;
    m->h_io[0] = pos;
    for (int i = 0; i < n; i++) m->h_io[1 + i] = ids[i];
    bool want_head = s->head && (logits || mode);
    if (n == 1 && s->use_graph && !m->graph_failed && s->head) {
        /* Decode: one graph per mode, captured on first use, replayed for every step: the
           inputs (id, position, request) are copied from pinned memory inside the graph. */
        cudaGraphExec_t *ge = &m->graph[mode];
        if (!*ge) {
            cudaGraph_t g = NULL;
            CK(cudaStreamBeginCapture(m->st, cudaStreamCaptureModeThreadLocal));
            cudaMemcpyAsync(m->d_io, m->h_io, 2 * sizeof(int), cudaMemcpyHostToDevice, m->st);
            int rc = run_layers<T>(m, 1, LCU_DEC_SPLITS, true, 1, 0, msg, msz);
            if (rc == LCU_OK) {
                if (mode) rc = select_enqueue(m, 1, mode, msg, msz);
                else cudaMemcpyAsync(m->h_logits, m->logits, V * 4, cudaMemcpyDeviceToHost, m->st);
            }
            cudaError_t e = cudaStreamEndCapture(m->st, &g);
            if (rc == LCU_OK && e == cudaSuccess) e = cudaGraphInstantiate(ge, g, 0);
            if (g) cudaGraphDestroy(g);
            if (rc != LCU_OK || e != cudaSuccess) {
                /* Capture is an optimisation: run eagerly from now on. */
                cudaGetLastError();
                *ge = NULL;
                m->graph_failed = true;
            }
        }
        if (*ge) {
            CK(cudaGraphLaunch(*ge, m->st));
            CK(cudaStreamSynchronize(m->st));
            if (!mode && logits) memcpy(logits, m->h_logits, V * 4);
            return LCU_OK;
        }
    }
    CK(cudaMemcpyAsync(m->d_io, m->h_io, (size_t)(n + 1) * sizeof(int), cudaMemcpyHostToDevice, m->st));
    /* Splits so the attention grid fills the GPU at small n; capped by the partial buffer. */
    int S = 1;
    size_t units = (size_t)n * s->nh;
    while (S < LCU_DEC_SPLITS && units * S < (size_t)m->sms * 4 && units * (S * 2) <= m->po_units) S *= 2;
    int rows = want_head ? (all_logits && !mode ? n : 1) : 0;
    int chunk = rows < LCU_LOGIT_CHUNK ? rows : LCU_LOGIT_CHUNK;
    TRY(run_layers<T>(m, n, S, want_head, chunk, all_logits && !mode ? 0 : n - 1, msg, msz));
    if (mode) {
        TRY(select_enqueue(m, n, mode, msg, msz));
    } else if (want_head) {
        CK(cudaMemcpyAsync(logits, m->logits, (size_t)chunk * V * 4, cudaMemcpyDeviceToHost, m->st));
        for (int r0 = chunk; r0 < rows; r0 += LCU_LOGIT_CHUNK) {
            int c = rows - r0 < LCU_LOGIT_CHUNK ? rows - r0 : LCU_LOGIT_CHUNK;
            int threads = s->H >= 1024 ? 1024 : ((s->H + 31) / 32) * 32;
            k_rmsnorm<float><<<c, threads, 0, m->st>>>(m->x, m->norm, m->xn, s->H, s->eps, r0);
            CKL();
            TRY(linear<T>(m, m->head, NULL, m->xn, c, s->V, s->H, m->logits, false, msg, msz));
            CK(cudaMemcpyAsync(logits + (size_t)r0 * V, m->logits, (size_t)c * V * 4, cudaMemcpyDeviceToHost, m->st));
        }
    }
    if (!s->head && hidden) CK(cudaMemcpyAsync(hidden, m->x, (size_t)n * s->H * 4, cudaMemcpyDeviceToHost, m->st));
    CK(cudaStreamSynchronize(m->st));
    return LCU_OK;
}

static int check_forward(lcu_model *m, const int32_t *ids, int n, int pos, char *msg, size_t msz) {
    if (n <= 0 || n > m->s.batch || pos < 0 || pos + n > m->s.ctx) {
        snprintf(msg, msz, "forward: %d tokens at position %d do not fit batch %d / context %d", n, pos, m->s.batch, m->s.ctx);
        return LCU_FAIL;
    }
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= m->s.V) {
            snprintf(msg, msz, "forward: token id %d is outside the vocabulary of %d", ids[i], m->s.V);
            return LCU_FAIL;
        }
    CK(cudaSetDevice(m->s.device));
    return LCU_OK;
}

static int forward_any(lcu_model *m, const int32_t *ids, int n, int pos, float *logits, int all_logits, float *hidden, int mode, char *msg,
                       size_t msz) {
    TRY(check_forward(m, ids, n, pos, msg, msz));
    switch (m->s.wtype) {
    case LCU_W_F32: return forward_t<float>(m, ids, n, pos, logits, all_logits, hidden, mode, msg, msz);
    case LCU_W_F16: return forward_t<__half>(m, ids, n, pos, logits, all_logits, hidden, mode, msg, msz);
    default: return forward_t<bf16r>(m, ids, n, pos, logits, all_logits, hidden, mode, msg, msz);
    }
}

extern "C" int lcu_forward(lcu_model *m, const int32_t *ids, int n, int pos, float *logits, int all_logits, float *hidden, char *msg, size_t msz) {
    return forward_any(m, ids, n, pos, logits, all_logits, hidden, 0, msg, msz);
}

extern "C" int lcu_forward_select(lcu_model *m, const int32_t *ids, int n, int pos, const lcu_select *sel, lcu_choice **out, float *logits,
                                  char *msg, size_t msz) {
    *out = NULL;
    if (!m->s.head || !sel || (sel->mode != 1 && sel->mode != 2) || (sel->mode == 2 && (sel->top_k <= 0 || sel->top_k > LCU_SEL_CAP))) {
        snprintf(msg, msz, "token choice: needs the head on the GPU and greedy or 1..%d top-k", LCU_SEL_CAP);
        return LCU_FAIL;
    }
    m->h_par->mode = sel->mode;
    m->h_par->penalty = sel->penalty;
    m->h_par->temperature = sel->mode == 2 ? sel->temperature : 1.0f;
    m->h_par->top_k = sel->top_k;
    TRY(forward_any(m, ids, n, pos, NULL, 0, NULL, sel->mode, msg, msz));
    lcu_choice *c = m->h_choice;
    if (sel->mode == 1) c->status = 0;
    if (c->status) /* the host's full pass: the raw logits of the last row */
        CK(cudaMemcpy(logits, m->logits, (size_t)m->s.V * 4, cudaMemcpyDeviceToHost));
    *out = c;
    return LCU_OK;
}
