/* nn/blas.c: GEMM through CBLAS (OpenBLAS) and the choice of OpenBLAS kernel.
 *
 * Debian's OpenBLAS 0.3.21 predates the CPUs it now runs on and falls back to
 * its generic Prescott kernel on Zen 4 (AVX-512): about 14 GFLOPS per core
 * instead of ~120 with the SkylakeX/Cooperlake kernels. OpenBLAS reads
 * OPENBLAS_CORETYPE in a constructor, so the only fix from inside a program is
 * to set it and execute the program again before doing any work. */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "common/log.h"
#include "nn/blas.h"
#include "nn/nn.h"

/* set in the environment of the re-executed program so it never loops */
#define REEXEC_MARK "SHOP_NN_BLAS_REEXEC"

void
nn_gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha,
        const float *a, int lda, const float *b, int ldb, float beta,
        float *c, int ldc)
{
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb,
                beta, c, ldc);
}

void
nn_blas_init(void)
{
    /* nn splits batches over its own threads; OpenBLAS threads on top of them
     * oversubscribe the cores and cost more than they give on small GEMMs */
    if (openblas_get_num_threads() != 1)
        openblas_set_num_threads(1);
}

const char *
nn_blas_corename(void)
{
    const char *name = openblas_get_corename();
    return name ? name : "unknown";
}

void
nn_cpu_detect(nn_cpu_t *cpu)
{
    memset(cpu, 0, sizeof *cpu);
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return;
    bool osxsave = c & (1u << 27);
    bool avx = c & (1u << 28);
    cpu->fma = c & (1u << 12);
    if (osxsave && avx) {
        unsigned lo, hi;
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        (void) hi;
        cpu->os_avx = (lo & 0x6) == 0x6;          /* XMM and YMM state */
        cpu->os_avx512 = (lo & 0xe6) == 0xe6;     /* plus opmask, ZMM_Hi256, Hi16_ZMM */
    }
    if (__get_cpuid_max(0, NULL) >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        cpu->avx2 = b & (1u << 5);
        cpu->avx512f = b & (1u << 16);
        cpu->avx512dq = b & (1u << 17);
        cpu->avx512bw = b & (1u << 30);
        cpu->avx512vl = b & (1u << 31);
        __cpuid_count(7, 1, a, b, c, d);
        cpu->avx512bf16 = a & (1u << 5);
    }
#endif
}

const char *
nn_blas_choose_coretype(const char *env_coretype, const char *corename, const nn_cpu_t *cpu)
{
    if (env_coretype && *env_coretype)
        return NULL;                  /* the user chose: respect it */
    /* kernels that already use AVX2 or better: nothing to gain */
    static const char *const fast[] = { "Haswell", "Zen", "SkylakeX", "Cooperlake",
                                        "SapphireRapids" };
    if (corename)
        for (size_t i = 0; i < sizeof fast / sizeof fast[0]; i++)
            if (strcasecmp(corename, fast[i]) == 0)
                return NULL;
    if (cpu->avx512f && cpu->avx512bw && cpu->avx512vl && cpu->avx512dq && cpu->os_avx512
        && cpu->os_avx)
        return cpu->avx512bf16 ? "Cooperlake" : "SkylakeX";
    if (cpu->avx2 && cpu->fma && cpu->os_avx)
        return "Haswell";
    return NULL;
}

void
nn_blas_ensure_fast_path(char **argv)
{
    const char *env = getenv("OPENBLAS_CORETYPE");
    const char *core = nn_blas_corename();
    if (env && *env) {
        log_debug("nn: OPENBLAS_CORETYPE=%s set by the user, OpenBLAS kernel %s", env, core);
    } else if (getenv(REEXEC_MARK)) {
        log_debug("nn: OpenBLAS kernel %s after re-exec", core);
    } else {
        nn_cpu_t cpu;
        nn_cpu_detect(&cpu);
        const char *want = nn_blas_choose_coretype(env, core, &cpu);
        if (want && argv && argv[0]) {
            log_debug("nn: OpenBLAS chose %s; re-executing with OPENBLAS_CORETYPE=%s", core, want);
            if (setenv("OPENBLAS_CORETYPE", want, 1) == 0 && setenv(REEXEC_MARK, "1", 1) == 0) {
                execv("/proc/self/exe", argv);
                log_warn("nn: cannot re-execute /proc/self/exe: OpenBLAS stays on %s", core);
            }
            unsetenv("OPENBLAS_CORETYPE");
        }
    }
    nn_blas_init();
}
