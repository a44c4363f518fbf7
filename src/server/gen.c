/*
 * The generation engine of one language model. HTTP threads queue calls
 * (a request's n choices); one thread admits them into running slots and
 * steps all slots in a single forward per step: first one token for each
 * slot that is decoding, then prompt chunks from the rest of the step's
 * token budget, so long prompts never stall running streams for more than
 * one chunk. After the forward each slot samples and streams its text.
 *
 * Sessions (the KV cache of one sequence) outlive their requests: a new
 * request takes the kept session whose tokens share the longest prefix
 * with its prompt, or copies that prefix from a running one, so a shared
 * system prompt or an earlier turn of a conversation is computed once.
 * Kept sessions are dropped least recently used first when the KV budget
 * is exceeded. Only the engine thread touches sessions.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model/json_constraint.h"
#include "server/server-impl.h"

enum {
    STEP_TOKENS = 256,   /* tokens per forward: decodes first, then prompt chunks */
    MIN_SHARED = 16,     /* a prefix worth copying from a running session */
    TPS_WINDOW = 10,     /* seconds averaged by the tokens/s gauge */
};

typedef struct gsession {
    ia_session *s;
    bool busy;
    double last_used;
} gsession;

typedef struct slot {
    srv_choice *ch;
    ia_gen *gen;
    gsession *gs;
    ia_jsonc_state js;  /* where the JSON constraint stands (the choice's js) */
} slot;

struct srv_gen {
    const ia_lm *lm;
    ia_jsonc_vocab *jvocab; /* the tokens' bytes, for JSON-constrained output */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    bool running, stop;
    srv_choice **wait;  /* FIFO of queued choices */
    size_t n_wait, cap_wait, max_wait;
    slot *slots;
    int max_running, n_running;
    gsession *ses;      /* running and kept sessions */
    int n_ses, max_ses;
    size_t kv_budget;
    srv_gen_stats st;   /* counters, under lock */
    long tps_second[TPS_WINDOW], tps_stamp[TPS_WINDOW];
};

/* ---- calls --------------------------------------------------------------- */

srv_call *ia__srv_call_new(const ia_lm *lm, int n_choices)
{
    srv_call *c = ia__calloc(1, sizeof *c);
    if (!c || !(c->choices = ia__calloc((size_t)n_choices, sizeof *c->choices))) {
        ia__free(c);
        return NULL;
    }
    pthread_mutex_init(&c->lock, NULL);
    atomic_init(&c->refs, 1);
    c->lm = lm;
    c->n_choices = n_choices;
    for (int i = 0; i < n_choices; i++) {
        c->choices[i].call = c;
        c->choices[i].index = i;
    }
    return c;
}

void ia__srv_call_unref(srv_call *c)
{
    if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    for (int i = 0; i < c->n_choices; i++) {
        ia__sbuf_free(&c->choices[i].text);
        ia__free(c->choices[i].lp);
    }
    ia__jsonc_free(c->json);
    if (c->ext_free)
        c->ext_free(c->ext);
    ia__free(c->choices);
    ia__free(c->prompt);
    pthread_mutex_destroy(&c->lock);
    ia__free(c);
}

/* ia_gen's callbacks: output under the call's lock. */
static bool on_text(const char *text, size_t len, void *user)
{
    srv_choice *ch = user;
    srv_call *c = ch->call;
    pthread_mutex_lock(&c->lock);
    ia__sbuf_put(&ch->text, text, len);
    const bool oom = ch->text.oom;
    pthread_mutex_unlock(&c->lock);
    return !oom && !atomic_load(&c->cancelled);
}

static void on_token(int32_t token, float logprob, const int32_t *top, const float *top_lp, int n_top, void *user)
{
    srv_choice *ch = user;
    srv_call *c = ch->call;
    if (ch->js) { /* the constraint follows the text (engine thread only) */
        size_t n = 0;
        const char *bytes = ia__bpe_piece(c->lm->tok, token, &n);
        if (bytes)
            ia__jsonc_feed(c->json, ch->js, bytes, n);
    }
    if (!ch->want_lp)
        return;
    pthread_mutex_lock(&c->lock);
    if (ch->n_lp == ch->cap_lp) {
        const size_t cap = ch->cap_lp ? 2 * ch->cap_lp : 64;
        srv_toklp *p = ia__realloc(ch->lp, cap * sizeof *p);
        if (p) {
            ch->lp = p;
            ch->cap_lp = cap;
        }
    }
    if (ch->n_lp < ch->cap_lp) {
        srv_toklp *e = &ch->lp[ch->n_lp++];
        e->token = token;
        e->logprob = logprob;
        e->n_top = n_top;
        memcpy(e->top, top, (size_t)n_top * sizeof *top);
        memcpy(e->top_lp, top_lp, (size_t)n_top * sizeof *top_lp);
    }
    pthread_mutex_unlock(&c->lock);
}

/* A choice is over: count it; the last one notifies and drops the
 * engine's reference. */
static void choice_done(srv_gen *g, srv_choice *ch, const char *err)
{
    srv_call *c = ch->call;
    pthread_mutex_lock(&c->lock);
    if (err)
        snprintf(ch->errmsg, sizeof ch->errmsg, "%s", err[0] ? err : "generation failed");
    ch->done = true;
    const bool last = ++c->n_done == c->n_choices;
    pthread_mutex_unlock(&c->lock);
    pthread_mutex_lock(&g->lock);
    g->st.prompt_tokens += (unsigned long)ch->res.prompt_tokens;
    g->st.cached_tokens += (unsigned long)ch->res.cached_tokens;
    g->st.prefix_hits += ch->res.cached_tokens > 0;
    if (ch->res.completion_tokens) {
        g->st.ttft_sum += ch->res.first_token_s;
        g->st.ttft_count++;
    }
    pthread_mutex_unlock(&g->lock);
    if (c->notify)
        c->notify(c);
    if (last)
        ia__srv_call_unref(c);
}

/* ---- sessions: the prefix cache ----------------------------------------------- */

static int common_prefix(const ia_session *s, const int32_t *p, int n)
{
    const int32_t *t = ia__session_tokens(s);
    const int m = IA_MIN(ia__session_pos(s), n);
    int k = 0;
    while (k < m && t[k] == p[k])
        k++;
    return k;
}

/* The session for a prompt: the kept one sharing the longest prefix; or a
 * fresh one, given a running session's prefix when that is longer. */
static ia_status take_session(srv_gen *g, const int32_t *p, int n, gsession **out)
{
    gsession *idle = NULL, *busy = NULL, *lru = NULL;
    int idle_k = -1, busy_k = 0;
    for (int i = 0; i < g->n_ses; i++) {
        gsession *s = &g->ses[i];
        const int k = common_prefix(s->s, p, n);
        if (s->busy) {
            if (k > busy_k)
                busy = s, busy_k = k;
            continue;
        }
        if (k > idle_k)
            idle = s, idle_k = k;
        if (!lru || s->last_used < lru->last_used)
            lru = s;
    }
    gsession *use = idle && idle_k > 0 ? idle : NULL;
    if (!use || (busy && busy_k >= MIN_SHARED && busy_k > idle_k)) {
        if (g->n_ses < g->max_ses) { /* a fresh session */
            ia_status rc = ia__session_new(g->lm->dec, 0, &g->ses[g->n_ses].s);
            if (rc)
                return rc;
            use = &g->ses[g->n_ses++];
            use->busy = false;
        } else if (!use) {
            use = lru; /* forget the least recently used */
        }
        if (!use)
            return ia__error(IA_ERR_NOMEM, "no free session (all %d are running)", g->max_ses);
        if (busy && busy_k >= MIN_SHARED && busy_k > common_prefix(use->s, p, n)) {
            ia_status rc = ia__session_copy_prefix(use->s, busy->s, busy_k);
            if (rc)
                return rc;
        }
    }
    use->busy = true;
    *out = use;
    return IA_OK;
}

/* Drop kept sessions, least recently used first, while over the budget. */
static void trim_sessions(srv_gen *g)
{
    for (;;) {
        size_t total = 0;
        int lru = -1;
        for (int i = 0; i < g->n_ses; i++) {
            total += ia__session_kv_bytes(g->ses[i].s);
            if (!g->ses[i].busy && (lru < 0 || g->ses[i].last_used < g->ses[lru].last_used))
                lru = i;
        }
        pthread_mutex_lock(&g->lock);
        g->st.kv_bytes = total;
        g->st.kv_sessions = (size_t)g->n_ses;
        pthread_mutex_unlock(&g->lock);
        if (total <= g->kv_budget || lru < 0)
            return;
        ia__session_free(g->ses[lru].s);
        /* slots point at sessions: move the last one only if it is idle */
        g->ses[lru] = g->ses[g->n_ses - 1];
        for (int i = 0; i < g->max_running; i++)
            if (g->slots[i].gs == &g->ses[g->n_ses - 1])
                g->slots[i].gs = &g->ses[lru];
        g->n_ses--;
    }
}

/* ---- the engine thread ---------------------------------------------------------- */

static void slot_start(srv_gen *g, slot *sl, srv_choice *ch)
{
    srv_call *c = ch->call;
    sl->ch = ch;
    ch->want_lp = ch->params.top_logprobs > 0 || ch->want_lp;
    /* only when something reads the tokens: the generator then also
     * computes each one's log-probability, a softmax over the vocabulary */
    ch->params.on_token = ch->want_lp || c->json ? on_token : NULL;
    if (atomic_load(&c->cancelled)) {
        ch->res.finish_reason = "cancelled";
        choice_done(g, ch, NULL);
        memset(sl, 0, sizeof *sl);
        return;
    }
    if (c->json) {
        ia__jsonc_start(c->json, &sl->js);
        ch->js = &sl->js;
    }
    ia_status rc = c->json && !g->jvocab ? ia__error(IA_ERR_UNSUPPORTED, "JSON output: no vocabulary index") : IA_OK;
    if (!rc)
        rc = take_session(g, c->prompt, c->n_prompt, &sl->gs);
    if (!rc)
        rc = ia__gen_new(c->lm, sl->gs->s, c->prompt, c->n_prompt, &ch->params, on_text, ch, &sl->gen);
    if (rc) {
        ch->js = NULL;
        if (sl->gs)
            sl->gs->busy = false;
        choice_done(g, ch, ia_errmsg());
        memset(sl, 0, sizeof *sl);
        return;
    }
    g->n_running++;
}

static void slot_finish(srv_gen *g, slot *sl, const char *err)
{
    ia__gen_result(sl->gen, &sl->ch->res);
    if (err && !sl->ch->res.finish_reason)
        sl->ch->res.finish_reason = "error";
    sl->gs->busy = false;
    sl->gs->last_used = ia__now();
    ia__gen_free(sl->gen);
    srv_choice *ch = sl->ch;
    memset(sl, 0, sizeof *sl);
    g->n_running--;
    choice_done(g, ch, err);
}

/* The JSON constraint: tokens that would break the document get no
 * chance; once it is complete only end-of-generation remains. */
static void constrain(const srv_gen *g, const slot *sl, float *logits, int n_vocab, uint8_t *mask)
{
    const int nv = (int)IA_MIN((size_t)n_vocab, ia__jsonc_vocab_size(g->jvocab));
    if (ia__jsonc_mask(sl->ch->call->json, g->jvocab, &sl->js, mask))
        memset(mask, 0, (size_t)nv);
    for (int t = 0; t < n_vocab; t++)
        if (t >= nv || !mask[t])
            logits[t] = -INFINITY;
}

static void *engine(void *arg)
{
    srv_gen *g = arg;
    const int V = ia__decoder_config(g->lm->dec)->n_vocab;
    float *logits = ia__malloc((size_t)g->max_running * (size_t)V * sizeof *logits);
    uint8_t *mask = ia__malloc((size_t)V);
    ia_session **bs = ia__malloc((size_t)g->max_running * sizeof *bs);
    const int32_t **bt = ia__malloc((size_t)g->max_running * sizeof *bt);
    int *bn = ia__malloc((size_t)g->max_running * sizeof *bn), *who = ia__malloc((size_t)g->max_running * sizeof *who);
    bool *need = ia__malloc((size_t)g->max_running * sizeof *need);
    const bool ok = logits && mask && bs && bt && bn && who && need;
    double last_probe = 0;
    for (;;) {
        pthread_mutex_lock(&g->lock);
        while (!g->stop && !g->n_wait && !g->n_running)
            pthread_cond_wait(&g->wake, &g->lock);
        const bool stop = g->stop || !ok;
        /* admit queued choices into free slots */
        srv_choice *admit[64];
        int n_admit = 0;
        while (!stop && g->n_wait && g->n_running + n_admit < g->max_running && n_admit < 64) {
            admit[n_admit++] = g->wait[0];
            memmove(g->wait, g->wait + 1, --g->n_wait * sizeof *g->wait);
        }
        g->st.waiting = g->n_wait;
        pthread_mutex_unlock(&g->lock);
        if (stop)
            break;
        for (int a = 0; a < n_admit; a++)
            for (int i = 0; i < g->max_running; i++)
                if (!g->slots[i].ch) {
                    slot_start(g, &g->slots[i], admit[a]);
                    break;
                }
        if (n_admit) { /* running from now: their first tokens stream out before this step ends */
            pthread_mutex_lock(&g->lock);
            g->st.running = (size_t)g->n_running;
            pthread_mutex_unlock(&g->lock);
        }
        /* the step: decodes first, then prompt chunks; clients that left
         * are looked for a few times a second */
        int n = 0, budget = STEP_TOKENS;
        const double now_s = ia__now();
        const bool probe = now_s - last_probe > 0.25;
        if (probe)
            last_probe = now_s;
        for (int i = 0; i < g->max_running; i++) {
            srv_call *c = g->slots[i].ch ? g->slots[i].ch->call : NULL;
            if (c && probe && c->alive && !c->alive(c))
                atomic_store(&c->cancelled, true);
            if (c && atomic_load(&c->cancelled))
                ia__gen_cancel(g->slots[i].gen);
        }
        for (int pass = 0; pass < 2; pass++)
            for (int i = 0; i < g->max_running && budget > 0; i++) {
                slot *sl = &g->slots[i];
                if (!sl->ch)
                    continue;
                const bool decoding = ia__session_pos(sl->gs->s) >= sl->ch->call->n_prompt;
                if (decoding != (pass == 0))
                    continue;
                const int m = ia__gen_next(sl->gen, budget, &bt[n], &need[n]);
                if (m > 0) {
                    bs[n] = sl->gs->s;
                    bn[n] = m;
                    who[n++] = i;
                    budget -= m;
                }
            }
        ia_status rc = n ? ia__session_eval_batch(bs, bt, bn, n, need, logits) : IA_OK;
        char err[256] = "";
        if (rc)
            snprintf(err, sizeof err, "%s", ia_errmsg());
        int produced = 0;
        for (int j = 0, k = 0; j < n; j++) {
            slot *sl = &g->slots[who[j]];
            float *lg = need[j] ? logits + (size_t)V * k++ : NULL;
            if (!rc && lg && sl->ch->js)
                constrain(g, sl, lg, V, mask);
            const int toks_before = sl->ch->res.completion_tokens;
            ia_status r2 = rc ? rc : ia__gen_advance(sl->gen, lg);
            ia_gen_result res;
            ia__gen_result(sl->gen, &res);
            sl->ch->res = res;
            produced += res.completion_tokens - toks_before;
            if (r2 || ia__gen_done(sl->gen))
                slot_finish(g, sl, r2 ? (err[0] ? err : ia_errmsg()) : NULL);
            else if (sl->ch->call->notify && res.completion_tokens > toks_before)
                sl->ch->call->notify(sl->ch->call);
        }
        /* slots cancelled while queued for a step */
        for (int i = 0; i < g->max_running; i++)
            if (g->slots[i].ch && ia__gen_done(g->slots[i].gen))
                slot_finish(g, &g->slots[i], NULL);
        trim_sessions(g);
        pthread_mutex_lock(&g->lock);
        g->st.running = (size_t)g->n_running;
        g->st.generated_tokens += (unsigned long)produced;
        g->st.steps += n > 0;
        const long now = (long)ia__now();
        long *sec = &g->tps_second[now % TPS_WINDOW];
        if (g->tps_stamp[now % TPS_WINDOW] != now) {
            g->tps_stamp[now % TPS_WINDOW] = now;
            *sec = 0;
        }
        *sec += produced;
        pthread_mutex_unlock(&g->lock);
    }
    /* stopping: what runs is cancelled, what waits never starts */
    for (int i = 0; i < g->max_running; i++)
        if (g->slots[i].ch) {
            ia__gen_cancel(g->slots[i].gen);
            slot_finish(g, &g->slots[i], NULL);
        }
    pthread_mutex_lock(&g->lock);
    while (g->n_wait) {
        srv_choice *ch = g->wait[--g->n_wait];
        pthread_mutex_unlock(&g->lock);
        ch->res.finish_reason = "cancelled";
        choice_done(g, ch, ok ? NULL : "out of memory");
        pthread_mutex_lock(&g->lock);
    }
    pthread_mutex_unlock(&g->lock);
    ia__free(logits);
    ia__free(mask);
    ia__free(bs);
    ia__free(bt);
    ia__free(bn);
    ia__free(who);
    ia__free(need);
    return NULL;
}

/* The tokens' bytes for JSON-constrained output: special tokens have
 * none (never allowed), end-of-generation tokens end a complete document. */
static ia_status make_json_vocab(const ia_lm *lm, ia_jsonc_vocab **out)
{
    const size_t n = ia__bpe_n_vocab(lm->tok);
    const char **bytes = ia__malloc(n * sizeof *bytes);
    size_t *len = ia__malloc(n * sizeof *len);
    uint8_t *eog = ia__malloc(n);
    ia_status rc = bytes && len && eog ? IA_OK : ia__error(IA_ERR_NOMEM, "out of memory");
    for (size_t t = 0; !rc && t < n; t++) {
        eog[t] = ia__bpe_is_eog(lm->tok, (int32_t)t);
        bytes[t] = ia__bpe_is_special(lm->tok, (int32_t)t) ? NULL : ia__bpe_piece(lm->tok, (int32_t)t, &len[t]);
        if (!bytes[t]) {
            bytes[t] = "";
            len[t] = 0;
        }
    }
    if (!rc)
        rc = ia__jsonc_vocab_new(n, bytes, len, eog, out);
    ia__free(bytes);
    ia__free(len);
    ia__free(eog);
    return rc;
}

ia_status ia__srv_gen_start(const ia_lm *lm, int max_running, size_t kv_budget_bytes, srv_gen **out)
{
    *out = NULL;
    srv_gen *g = ia__calloc(1, sizeof *g);
    if (!g)
        return ia__error(IA_ERR_NOMEM, "out of memory");
    g->lm = lm;
    g->max_running = max_running;
    ia_status rc = make_json_vocab(lm, &g->jvocab);
    if (rc) {
        ia__free(g);
        return rc;
    }
    g->max_ses = 2 * max_running;
    g->max_wait = 4096;
    g->kv_budget = kv_budget_bytes;
    g->slots = ia__calloc((size_t)max_running, sizeof *g->slots);
    g->ses = ia__calloc((size_t)g->max_ses, sizeof *g->ses);
    if (!g->slots || !g->ses) {
        ia__srv_gen_free(g);
        return ia__error(IA_ERR_NOMEM, "out of memory");
    }
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->wake, NULL);
    if (pthread_create(&g->thread, NULL, engine, g)) {
        pthread_mutex_destroy(&g->lock);
        pthread_cond_destroy(&g->wake);
        ia__jsonc_vocab_free(g->jvocab);
        ia__free(g->slots);
        ia__free(g->ses);
        ia__free(g);
        return ia__error(IA_ERR_IO, "cannot start the generation thread");
    }
    g->running = true;
    *out = g;
    return IA_OK;
}

bool ia__srv_gen_submit(srv_gen *g, srv_call *c)
{
    pthread_mutex_lock(&g->lock);
    bool ok = !g->stop && g->n_wait + (size_t)c->n_choices <= g->max_wait;
    if (ok && g->n_wait + (size_t)c->n_choices > g->cap_wait) {
        size_t cap = g->cap_wait ? g->cap_wait : 64;
        while (cap < g->n_wait + (size_t)c->n_choices)
            cap *= 2;
        srv_choice **w = ia__realloc(g->wait, cap * sizeof *w);
        ok = w != NULL;
        if (w) {
            g->wait = w;
            g->cap_wait = cap;
        }
    }
    if (ok) {
        atomic_fetch_add(&c->refs, 1);
        c->t_queued = ia__now();
        for (int i = 0; i < c->n_choices; i++)
            g->wait[g->n_wait++] = &c->choices[i];
        g->st.requests++;
        g->st.waiting = g->n_wait;
        pthread_cond_signal(&g->wake);
    }
    pthread_mutex_unlock(&g->lock);
    return ok;
}

void ia__srv_gen_stop(srv_gen *g)
{
    if (!g || !g->running)
        return;
    pthread_mutex_lock(&g->lock);
    g->stop = true;
    pthread_cond_signal(&g->wake);
    pthread_mutex_unlock(&g->lock);
    pthread_join(g->thread, NULL);
    g->running = false;
}

void ia__srv_gen_free(srv_gen *g)
{
    if (!g)
        return;
    ia__srv_gen_stop(g);
    for (int i = 0; i < g->n_ses; i++)
        ia__session_free(g->ses[i].s);
    if (g->slots) {
        pthread_mutex_destroy(&g->lock);
        pthread_cond_destroy(&g->wake);
    }
    ia__jsonc_vocab_free(g->jvocab);
    ia__free(g->slots);
    ia__free(g->ses);
    ia__free(g->wait);
    ia__free(g);
}

void ia__srv_gen_stats(srv_gen *g, srv_gen_stats *st)
{
    pthread_mutex_lock(&g->lock);
    *st = g->st;
    const long now = (long)ia__now();
    long window = 0;
    for (int i = 0; i < TPS_WINDOW; i++)
        if (g->tps_stamp[i] > now - TPS_WINDOW)
            window += g->tps_second[i];
    st->gen_tps = (double)window / TPS_WINDOW;
    pthread_mutex_unlock(&g->lock);
}
