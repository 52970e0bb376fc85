/* source.h — what every reader shares: a source (a path or a glob pattern) expanded to a
 * sorted file list, and the label rule that gives each record its class label.
 *
 *   struct mk_filelist fl;  mk_filelist_expand(&fl, "genomes/h*.fa.gz", err, errlen);
 *   struct mk_labeler lab;  mk_labeler_init(&lab, "header:^([A-Za-z]+)_", err, errlen);
 *   const char *label = mk_labeler_label(&lab, fl.paths[i], header);   (NULL: no label)
 *
 * Label rules (the `labels` key of a recipe split):
 *   none / NULL      no labels
 *   dir              the name of the directory holding the file (species/ecoli/x.fa → ecoli)
 *   dir:N            the name of the directory N levels up (dir:2 on
 *                    E.Coli/references/DH1.fasta.gz → E.Coli; dir:1 is dir)
 *   header:REGEX     POSIX extended regex searched in the record's header (FASTA: the whole
 *                    header line; other modalities: the file path); the label is group 1, or
 *                    the whole match if the regex has no group. No match is an error.
 *   tsv:FILE         lines "KEY<TAB>LABEL" ('#' comments, blank lines skipped); KEY is looked
 *                    up as the record id, then the file path, then the file's base name. A
 *                    record with no entry is an error.
 */
#ifndef MK_SOURCE_H
#define MK_SOURCE_H

#include <regex.h>
#include <stddef.h>
#include "common/chunker.h"
#include "common/modutil.h"

struct mk_filelist {
    char **paths; /* [n] sorted */
    size_t n;
};

/* A pattern with glob characters (*?[) must match at least one file; a plain path must exist
 * and be a regular file. */
int mk_filelist_expand(struct mk_filelist *fl, const char *source, char *err, size_t errlen);
void mk_filelist_free(struct mk_filelist *fl);

enum mk_label_kind { MK_LABELS_NONE, MK_LABELS_DIR, MK_LABELS_HEADER, MK_LABELS_TSV };

struct mk_labeler {
    enum mk_label_kind kind;
    regex_t re;              /* MK_LABELS_HEADER */
    int re_groups;           /* number of groups in re */
    int dir_level;           /* MK_LABELS_DIR: 1 = the file's own directory */
    struct mk_strmap keys;   /* MK_LABELS_TSV: key → index into labels */
    char **labels;           /* MK_LABELS_TSV: [n_labels] */
    size_t n_labels;
    char buf[1024];          /* the last label for dir / header rules */
};

int mk_labeler_init(struct mk_labeler *lab, const char *rule, char *err, size_t errlen);
void mk_labeler_free(struct mk_labeler *lab);
/* Sets *label to the label of a record (id: the record id; header: the text a header rule
 * searches) from file `path`; NULL with MK_LABELS_NONE. The string lives until the next call.
 * A record the rule cannot label is MK_MODALITY_ERR_FORMAT. */
int mk_labeler_label(struct mk_labeler *lab, const char *path, const char *id,
                     const char *header, const char **label, char *err, size_t errlen);

/* ---- the reader every modality builds on ---- */

/* A reader: the files of a source, the label rule and a chunker. A modality embeds it as the
 * first member of its own reader and supplies `advance`, which parses more input into the
 * chunker (begin, push, end) and returns MK_MODALITY_OK, MK_MODALITY_END when the files are
 * done, or an error. */
struct mk_source_reader {
    struct mk_filelist files;
    struct mk_labeler lab;
    struct mk_chunker ch;
    int (*advance)(struct mk_source_reader *r, char *err, size_t errlen);
};

/* Expands the source, parses the label rule and sets up the chunker (chunker.h). */
int mk_source_reader_init(struct mk_source_reader *r, const char *source, const char *labels,
                          size_t max_chunk, size_t window, size_t stride, int weighted,
                          char *err, size_t errlen);
/* The ABI's read(): the next chunk, advancing as needed. */
int mk_source_reader_read(struct mk_source_reader *r, struct mk_record *rec, char *err,
                          size_t errlen);
/* Frees what mk_source_reader_init made (not r itself). */
void mk_source_reader_free(struct mk_source_reader *r);

#endif
