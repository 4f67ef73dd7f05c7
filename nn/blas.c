/* nn/blas.c: GEMM through CBLAS (OpenBLAS) and the choice of OpenBLAS kernel.
 *
 * Debian's OpenBLAS 0.3.21 predates the CPUs it now runs on and may fall back
 * to its generic Prescott kernel on Zen 4 (AVX-512): about 14 GFLOPS per core
 * instead of ~120 with the SkylakeX/Cooperlake kernels, and environments often
 * pin OPENBLAS_CORETYPE=Haswell (AVX2), ~1.5x slower than AVX-512 here.
 * OpenBLAS reads OPENBLAS_CORETYPE in a constructor, so the only fix from
 * inside a program is to set it and execute the program again before doing
 * any work. shopd's own setting (SHOPD_BLAS_CORETYPE, [nn] blas_coretype)
 * decides: auto (default), env, or a kernel name. */
#include <cblas.h>
#include <stdio.h>
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

/* set in the environment of the re-executed program so it never loops;
 * removed there so the program's own children decide for themselves */
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

/* Instruction-set levels, in order: a kernel needs its level, a CPU offers one. */
enum {
    S_LEVEL_NONE = 0,   /* not x86, or nothing known */
    S_LEVEL_SSE,        /* any x86-64: the old generic kernels */
    S_LEVEL_AVX,
    S_LEVEL_AVX2,       /* AVX2 + FMA */
    S_LEVEL_AVX512,     /* F, BW, VL, DQ and the OS saving ZMM state */
    S_LEVEL_BF16,       /* AVX-512 plus BF16 */
};

/* OpenBLAS 0.3.21's x86-64 kernels that a user may force, with the level
 * each needs; the speed order is the level order (Haswell and Zen share the
 * same AVX2 GEMM kernel). */
static const struct {
    const char *name;
    int level;
} s_kernels[] = {
    { "Prescott", S_LEVEL_SSE },    { "Core2", S_LEVEL_SSE },
    { "Penryn", S_LEVEL_SSE },      { "Dunnington", S_LEVEL_SSE },
    { "Nehalem", S_LEVEL_SSE },     { "Sandybridge", S_LEVEL_AVX },
    { "Haswell", S_LEVEL_AVX2 },    { "Zen", S_LEVEL_AVX2 },
    { "SkylakeX", S_LEVEL_AVX512 }, { "Cooperlake", S_LEVEL_BF16 },
};
#define S_NKERNELS (sizeof s_kernels / sizeof s_kernels[0])

/* Index of the kernel named name (any case) in s_kernels, or -1. */
static int
s_kernel_find(const char *name)
{
    for (size_t i = 0; name && i < S_NKERNELS; i++)
        if (strcasecmp(name, s_kernels[i].name) == 0)
            return (int) i;
    return -1;
}

/* The level cpu offers. */
static int
s_cpu_level(const nn_cpu_t *cpu)
{
#if defined(__x86_64__) || defined(__i386__)
    if (!cpu->os_avx)
        return S_LEVEL_SSE;
#else
    (void) cpu;
    return S_LEVEL_NONE;
#endif
    if (cpu->avx512f && cpu->avx512bw && cpu->avx512vl && cpu->avx512dq && cpu->os_avx512
        && cpu->avx2 && cpu->fma)
        return cpu->avx512bf16 ? S_LEVEL_BF16 : S_LEVEL_AVX512;
    if (cpu->avx2 && cpu->fma)
        return S_LEVEL_AVX2;
    return S_LEVEL_AVX;
}

/* The fastest kernel at or below level, or NULL when there is none worth
 * forcing (below AVX2 OpenBLAS's own choice is as good as ours). */
static const char *
s_best_kernel(int level)
{
    switch (level) {
    case S_LEVEL_BF16: return "Cooperlake";
    case S_LEVEL_AVX512: return "SkylakeX";
    case S_LEVEL_AVX2: return "Haswell";
    default: return NULL;
    }
}

/* Level of the kernel OpenBLAS runs; names not in s_kernels (other vendors'
 * and other architectures' kernels) count as nothing known. */
static int
s_core_level(const char *corename)
{
    int i = s_kernel_find(corename);
    return i >= 0 ? s_kernels[i].level : S_LEVEL_NONE;
}

static const char *
s_level_name(int level)
{
    switch (level) {
    case S_LEVEL_BF16: return "AVX-512 BF16";
    case S_LEVEL_AVX512: return "AVX-512";
    case S_LEVEL_AVX2: return "AVX2+FMA";
    case S_LEVEL_AVX: return "AVX";
    default: return "x86-64";
    }
}

bool
nn_blas_policy_valid(const char *policy)
{
    return !policy || !*policy || strcasecmp(policy, "auto") == 0
           || strcasecmp(policy, "env") == 0 || s_kernel_find(policy) >= 0;
}

/* auto: the best kernel for the CPU unless OpenBLAS already runs one as fast
 * (and safe). Notes why an OPENBLAS_CORETYPE is overridden. */
static const char *
s_choose_auto(const char *env_coretype, const char *corename, int cpu_level, char *note,
              size_t notelen)
{
    const char *best = s_best_kernel(cpu_level);
    int core_level = s_core_level(corename);
    if (core_level > cpu_level) {
        /* only a forced OPENBLAS_CORETYPE gets here; running it would SIGILL */
        const char *safe = best ? best : cpu_level >= S_LEVEL_AVX ? "Sandybridge" : "Prescott";
        if (note)
            snprintf(note, notelen, "OPENBLAS_CORETYPE=%s needs %s, which this CPU or OS "
                     "lacks: using %s", env_coretype ? env_coretype : corename,
                     s_level_name(core_level), safe);
        return safe;
    }
    /* sgemm, all nn uses, is the same code in SkylakeX and Cooperlake */
    int cpu_tier = cpu_level == S_LEVEL_BF16 ? S_LEVEL_AVX512 : cpu_level;
    if (!best || core_level >= cpu_tier)
        return NULL;
    if (note && env_coretype && *env_coretype)
        snprintf(note, notelen, "OPENBLAS_CORETYPE=%s names a weaker kernel than this CPU "
                 "supports: using %s (SHOPD_BLAS_CORETYPE=env keeps OPENBLAS_CORETYPE)",
                 env_coretype, best);
    return best;
}

const char *
nn_blas_choose_coretype(const char *policy, const char *env_coretype, const char *corename,
                        const nn_cpu_t *cpu, char *note, size_t notelen)
{
    if (note && notelen)
        note[0] = '\0';
    if (env_coretype && !*env_coretype)
        env_coretype = NULL;
    int cpu_level = s_cpu_level(cpu);
    if (!policy || !*policy || strcasecmp(policy, "auto") == 0)
        return s_choose_auto(env_coretype, corename, cpu_level, note, notelen);
    if (strcasecmp(policy, "env") == 0) {
        if (env_coretype)
            return NULL;              /* the user chose through OpenBLAS: respect it */
        /* unset: only replace a generic kernel OpenBLAS fell back to */
        return s_core_level(corename) <= S_LEVEL_SSE
               ? s_choose_auto(NULL, corename, cpu_level, note, notelen) : NULL;
    }
    int k = s_kernel_find(policy);
    if (k < 0) {
        const char *want = s_choose_auto(env_coretype, corename, cpu_level, NULL, 0);
        if (note)
            snprintf(note, notelen, "kernel setting (SHOPD_BLAS_CORETYPE or [nn] "
                     "blas_coretype) \"%.40s\" is not auto, env or a known OpenBLAS kernel: "
                     "using auto (%s)", policy,
                     want ? want : corename ? corename : "unknown");
        return want;
    }
    if (s_kernels[k].level > cpu_level) {
        const char *want = s_choose_auto(env_coretype, corename, cpu_level, NULL, 0);
        if (note)
            snprintf(note, notelen, "kernel setting (SHOPD_BLAS_CORETYPE or [nn] "
                     "blas_coretype) %s needs %s, which this CPU or OS lacks: using auto (%s)", s_kernels[k].name, s_level_name(s_kernels[k].level),
                     want ? want : corename ? corename : "unknown");
        return want;
    }
    if (corename && strcasecmp(corename, s_kernels[k].name) == 0)
        return NULL;
    return s_kernels[k].name;
}

/* Logs a note of nn_blas_choose_coretype: a warning when shopd's own setting
 * cannot be honoured; that it overrides OPENBLAS_CORETYPE is a notice in the
 * daemon's log (loud) and a debug line for the tools, which start often. */
static void
s_log_note(const char *note, bool loud)
{
    if (strncmp(note, "kernel setting", 14) == 0)
        log_warn("nn: %s", note);
    else if (note[0] && loud)
        log_notice("nn: %s", note);
    else if (note[0])
        log_debug("nn: %s", note);
}

/* Executes the running program again with argv: through its real path, so
 * the new process keeps its name (ps, pgrep -x) instead of "exe". */
static void
s_reexec(char **argv)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0 && (size_t) n < sizeof self - 1) {
        self[n] = 0;
        execv(self, argv);
    }
    execv("/proc/self/exe", argv);
}

static void
s_ensure(char **argv, const char *policy, bool loud)
{
    const char *env_policy = getenv("SHOPD_BLAS_CORETYPE");
    if (env_policy && *env_policy)
        policy = env_policy;
    const char *env = getenv("OPENBLAS_CORETYPE");
    const char *core = nn_blas_corename();
    nn_cpu_t cpu;
    nn_cpu_detect(&cpu);
    char note[256];
    const char *want = nn_blas_choose_coretype(policy, env, core, &cpu, note, sizeof note);
    if (getenv(REEXEC_MARK)) {
        /* the re-executed program: never again, whatever OpenBLAS did */
        unsetenv(REEXEC_MARK);
        if (want)
            log_warn("nn: OpenBLAS runs %s after re-executing for %s", core, want);
        else
            log_debug("nn: OpenBLAS kernel %s after re-exec", core);
    } else if (want && argv && argv[0]) {
        s_log_note(note, loud);
        log_debug("nn: OpenBLAS runs %s; re-executing with OPENBLAS_CORETYPE=%s", core, want);
        if (setenv("OPENBLAS_CORETYPE", want, 1) == 0 && setenv(REEXEC_MARK, "1", 1) == 0) {
            s_reexec(argv);
            log_warn("nn: cannot re-execute /proc/self/exe: OpenBLAS stays on %s", core);
        }
        unsetenv(REEXEC_MARK);
        if (env)
            setenv("OPENBLAS_CORETYPE", env, 1);
        else
            unsetenv("OPENBLAS_CORETYPE");
    } else if (note[0]) {
        s_log_note(note, loud);
    } else {
        log_debug("nn: OpenBLAS kernel %s", core);
    }
    nn_blas_init();
}

void
nn_blas_ensure_fast_path_policy(char **argv, const char *policy)
{
    s_ensure(argv, policy, true);
}

void
nn_blas_ensure_fast_path(char **argv)
{
    s_ensure(argv, NULL, false);
}
