/* audio/align.c: word ends inside synthesised sentences (see align.h). */
#include "audio/align.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio/features.h"
#include "common/util.h"

int
align_prefix_end(const float *prefix, int np, const float *sentence, int ns, int f)
{
    if (np < 1 || ns < 1 || f < 1)
        return -1;
    float *d = xmalloc((size_t) np * (size_t) ns * sizeof *d);
    for (int i = 0; i < np; i++) {
        const float *p = prefix + (size_t) i * (size_t) f;
        for (int j = 0; j < ns; j++) {
            const float *s = sentence + (size_t) j * (size_t) f;
            double e = 0;
            for (int k = 0; k < f; k++)
                e += (double) (p[k] - s[k]) * (p[k] - s[k]);
            float c = (float) sqrt(e), best;
            if (i == 0 && j == 0) {
                best = 2 * c;
            } else {
                best = FLT_MAX;
                if (i > 0 && j > 0)
                    best = d[(size_t) (i - 1) * ns + j - 1] + 2 * c;
                if (i > 0)
                    best = fminf(best, d[(size_t) (i - 1) * ns + j] + c);
                if (j > 0)
                    best = fminf(best, d[(size_t) i * ns + j - 1] + c);
            }
            d[(size_t) i * ns + j] = best;
        }
    }
    /* every path from (0, 0) to (np - 1, j) weighs np + j + 1 in all */
    int end = 0;
    double best = DBL_MAX;
    for (int j = 0; j < ns; j++) {
        double c = d[(size_t) (np - 1) * ns + j] / (double) (np + j + 1);
        if (c < best) {
            best = c;
            end = j;
        }
    }
    free(d);
    return end;
}

/* Log-mel frames of clip samples [from, to) into *out (caller frees);
 * returns the frame count, 0 when the span is shorter than one frame. */
static int
s_frames(const features_config_t *fc, const float *pcm, int from, int to, float **out)
{
    size_t n = 0;
    *out = NULL;
    if (to - from < fc->win_length)
        return 0;
    if (features_compute(fc, pcm + from, (size_t) (to - from), out, &n) != 0)
        return 0;
    return (int) n;
}

/* The prefix clip of clip i holding its mark m: a clip stored before it of
 * the same voice whose text starts clip i's and whose last mark is that
 * word at the same time after the onset. -1 when there is none. */
static int
s_find_prefix(const corpus_t *corpus, int i, int m)
{
    const corpus_clip_t *c = corpus_clip(corpus, i);
    for (int k = i - 1; k >= 0 && k >= i - 16; k--) {
        const corpus_clip_t *p = corpus_clip(corpus, k);
        size_t len = strlen(p->text);
        if (strcmp(p->voice, c->voice) != 0 || strcmp(p->engine, c->engine) != 0
            || p->split != c->split || strncmp(p->text, c->text, len) != 0 || c->text[len] != ' ')
            return -1;
        if (p->n_marks < 1)
            continue;
        const corpus_mark_t *last = &p->marks[p->n_marks - 1];
        if (last->word == c->marks[m].word && last->end - p->onset == c->marks[m].end - c->onset)
            return k;
    }
    return -1;
}

int
corpus_realign_marks(corpus_t *corpus, bool (*want)(const corpus_clip_t *c, void *user),
                     void *user, align_stats_t *stats)
{
    align_stats_t st = { 0 };
    features_config_t fc;
    features_config_default(&fc);
    int hop = fc.hop_length, win = fc.win_length, f = fc.n_mels, maxn = 1, rc = 0;
    for (int i = 0; i < corpus_count(corpus); i++)
        maxn = corpus_clip(corpus, i)->n > maxn ? corpus_clip(corpus, i)->n : maxn;
    float *a = xmalloc((size_t) maxn * sizeof *a), *b = xmalloc((size_t) maxn * sizeof *b);
    double shift = 0;
    /* from the last clip back: a prefix clip's own marks are moved after
     * every longer clip has found it by them */
    for (int i = corpus_count(corpus) - 1; i >= 0 && rc == 0; i--) {
        const corpus_clip_t *c = corpus_clip(corpus, i);
        if (c->kind != CORPUS_KIND_COMMAND || c->n_marks < 1 || (want && !want(c, user)))
            continue;
        float *sf = NULL;
        int ns = -1;
        for (int m = 0; m < c->n_marks; m++) {
            int k = s_find_prefix(corpus, i, m);
            if (k < 0) {
                /* the last word of the clip is its own end of speech */
                st.missing += m < c->n_marks - 1;
                continue;
            }
            const corpus_clip_t *p = corpus_clip(corpus, k);
            int p_end = p->marks[p->n_marks - 1].end;
            if (ns < 0) {
                if (corpus_clip_pcm(corpus, i, a) != 0) {
                    rc = -1;
                    break;
                }
                ns = s_frames(&fc, a, c->onset, c->n, &sf);
            }
            float *pf = NULL;
            if (corpus_clip_pcm(corpus, k, b) != 0) {
                rc = -1;
                break;
            }
            int np = s_frames(&fc, b, p->onset, p_end, &pf);
            if (np < 1 || ns < 1) {
                free(pf);
                st.missing++;
                continue;
            }
            /* the word ends no later than its end alone: a few frames of slack */
            int reach = np + 10 < ns ? np + 10 : ns;
            int j = align_prefix_end(pf, np, sf, reach, f);
            free(pf);
            int tail = (p_end - p->onset) - ((np - 1) * hop + win);
            int end = c->onset + j * hop + win + tail, old = c->marks[m].end;
            int floor_end = m > 0 ? c->marks[m - 1].end + hop : c->onset + hop;
            end = end > old ? old : end < floor_end ? floor_end : end;
            corpus_set_mark_end(corpus, i, m, end);
            shift += end - old;
            st.marks++;
        }
        free(sf);
    }
    free(a);
    free(b);
    st.mean_shift = st.marks ? shift / st.marks : 0;
    if (stats)
        *stats = st;
    return rc;
}

/* ================================================================ self-test */

#define S_CHECK(cond)                                                                  \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "align_test: %s:%d: %s\n", __FILE__, __LINE__, #cond);     \
            goto fail;                                                                 \
        }                                                                              \
    } while (0)

static void
s_tone(float *x, int from, int to, float hz, float amp)
{
    for (int i = from; i < to; i++)
        x[i] += amp * sinf(2.f * (float) M_PI * hz * (float) i / 16000.f);
}

int
align_test(bool verbose)
{
    if (verbose)
        printf(" * align: ");
    int rc = -1;
    features_config_t fc;
    features_config_default(&fc);
    enum { N = 16000 };
    float *pre = xcalloc(N, sizeof *pre), *sen = xcalloc(N, sizeof *sen);
    float *pf = NULL, *sf = NULL;
    /* the "word" alone: 400 Hz for 300 ms, then a fading 300 Hz tail to 380 ms;
     * in the sentence: 400 Hz for 150 ms, then 1500 Hz to the end */
    s_tone(pre, 0, 4800, 400.f, 0.3f);
    for (int i = 4800; i < 6080; i++)
        pre[i] = 0.05f * (1.f - (float) (i - 4800) / 1280.f)
                 * sinf(2.f * (float) M_PI * 300.f * (float) i / 16000.f);
    s_tone(sen, 0, 2400, 400.f, 0.3f);
    s_tone(sen, 2400, N, 1500.f, 0.3f);
    int np = s_frames(&fc, pre, 0, 6080, &pf), ns = s_frames(&fc, sen, 0, N, &sf);
    S_CHECK(np > 30 && ns > 90);
    int j = align_prefix_end(pf, np, sf, ns, fc.n_mels);
    /* the sentence frame matched to the word's last frame ends within 30 ms
     * of the 150 ms boundary (the frames straddling it are part both) */
    int end = j * fc.hop_length + fc.win_length;
    S_CHECK(end >= 2400 - 480 && end <= 2400 + 480);
    S_CHECK(align_prefix_end(sf, 0, sf, 50, fc.n_mels) == -1);
    rc = 0;
    if (verbose)
        printf("OK\n");
fail:
    free(pf);
    free(sf);
    free(pre);
    free(sen);
    return rc;
}
