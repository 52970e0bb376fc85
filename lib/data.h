/* data.h — datasets for the tasks: the records a modality plugin reads, held in memory as
 * one token stream with document boundaries and labels, and the samplers that cut batches
 * of windows from it, deterministically from a seed and resumable from a saved position.
 *
 *     struct mk_dataset ds;
 *     mk_data_load(&ds, recipe, MK_SPLIT_TRAIN, NULL);    // files → records → one stream
 *     struct mk_sampler s;
 *     mk_sampler_init(&s, &ds, MK_SAMPLER_RANDOM_WINDOW, seq_len, 1, pack, seed);
 *     struct mk_batch b;  mk_batch_alloc(&b, micro_batch, seq_len);
 *     mk_sampler_next(&s, &ds, &b, codec_or_NULL);        // ids, targets, reset, labels
 *     ... save s (plain data) in a checkpoint, copy it back to resume ...
 *     mk_batch_free(&b); mk_data_free(&ds);
 *
 * Windows. A language-model window is seq_len + 1 tokens: ids are the first L, targets the
 * last L (shifted by one). With pack (documents concatenated, RECIPES.md) a window may cross
 * document boundaries: reset[b, t] = 1 where a document starts, so no recurrent state flows
 * across (mk_model_forward_packed), and the target before a boundary is -1 (ignored), since
 * nothing in one document predicts the start of the next. Without pack a window stays in
 * one document; a document shorter than the window is padded, with targets -1. A
 * classification window is L tokens of one document, labelled with the document's label.
 * Tokens whose plugin weight is 0 (masked bases, ignored N) are never targets.
 *
 * Samplers. random_window draws a start uniformly over every possible window (so documents
 * are chosen in proportion to their length); sequential walks non-overlapping windows in
 * order; per_record takes each document once per epoch (its first window) in a shuffled
 * order. All randomness comes from the sampler's own generator, whose state is plain data.
 */
#ifndef MK_DATA_H
#define MK_DATA_H

#include <stddef.h>
#include <stdint.h>
#include "recipe.h"

struct mk_doc {
    size_t start, len; /* token range in the stream */
    int label;         /* index into the label map, -1 = none */
    char *id;          /* record id from the plugin */
};

/* Class names, sorted so that their indices do not depend on file order. */
struct mk_labels {
    char **names;
    int n;
};

struct mk_dataset {
    int32_t *tokens;       /* [n_tokens] */
    float *weights;        /* [n_tokens] plugin loss weights, or NULL when all are 1 */
    size_t n_tokens;
    struct mk_doc *docs;   /* [n_docs] */
    size_t n_docs;
    int32_t pad_id;        /* filler token for short windows */
};

/* Reads split `split` of the recipe through its plugin (r->codec): the split's own paths,
 * or its share of data.train.paths when data.split.by cuts one (ratio: whole records by a
 * seeded draw; region: a contiguous part of every record; list: files by glob). Labels map
 * through `labels`: when labels->n == 0 it is filled with the sorted label names found
 * (training); otherwise a label outside it is an error (a classifier knows its classes). */
mk_status mk_data_load(struct mk_dataset *ds, const struct mk_recipe *r, int split,
                       struct mk_labels *labels);
void mk_data_free(struct mk_dataset *ds);
/* Adds one record (copied) to a dataset; for tests and for mk_data_load. */
mk_status mk_data_add(struct mk_dataset *ds, const int32_t *tokens, const float *weights,
                      size_t n, const char *id, int label);
void mk_labels_free(struct mk_labels *l);

/* A batch of B rows of L tokens (host memory). */
struct mk_batch {
    int B, L;
    int32_t *ids;      /* [B, L] */
    int32_t *targets;  /* [B, L] next-token targets, -1 = ignore (language model) */
    float *weights;    /* [B, L] loss weight of each target (the plugin's weight of the
                        * target token: soft-masked DNA < 1), 0 where ignored */
    uint8_t *reset;    /* [B, L] 1 where a document starts inside a packed window */
    int32_t *labels;   /* [B] class of the row's document, -1 = unknown */
    int32_t *lengths;  /* [B] real (unpadded) tokens in the row */
    size_t *doc;       /* [B] document index of the row's first token */
    int has_reset;     /* some reset flag is set */
    int has_weights;   /* some target weighs neither 0 nor 1 */
    int64_t n_targets; /* targets that are not -1 */
};
mk_status mk_batch_alloc(struct mk_batch *b, int B, int L);
void mk_batch_free(struct mk_batch *b);

/* The sampler's whole state: plain data, saved in checkpoints as is. */
struct mk_sampler {
    int kind;          /* enum mk_sampler_kind */
    int L;             /* window tokens given to the model */
    int lm;            /* 1: language-model windows (L + 1 tokens), 0: classification */
    int pack;          /* windows may cross documents */
    uint64_t seed;
    struct mk_rng rng; /* random_window draws, augmentation */
    uint64_t cursor;   /* sequential / per_record: next window or document of this epoch */
    uint64_t epoch;    /* completed passes (sequential, per_record) */
};

void mk_sampler_init(struct mk_sampler *s, int kind, int L, int lm, int pack, uint64_t seed);
/* Windows in one pass over the data (the unit of task.epochs). */
uint64_t mk_sampler_epoch_size(const struct mk_sampler *s, const struct mk_dataset *ds);
/* Fills b with the next b->B windows. `augment` (may be NULL) is the plugin's training-time
 * augmentation hook with its handle, applied to each document piece of a window. */
mk_status mk_sampler_next(struct mk_sampler *s, const struct mk_dataset *ds,
                          struct mk_batch *b, const struct mk_modality *augment, void *handle);

#endif /* MK_DATA_H */
