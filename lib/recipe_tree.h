/* recipe_tree.h — internal to the recipe code: the YAML document as a small tree whose nodes
 * remember where they came from (file:line:column, or "--set KEY" for overrides), and an
 * error list that collects every problem of a recipe before any is reported.
 *
 *     struct mk_rnode *root;
 *     mk_rtree_parse(&root, "r.yaml", text, len);           // libyaml → tree
 *     mk_rtree_set(root, "task.max_steps", node, &errs);     // an override
 *     struct mk_rnode *v = mk_rtree_get(root, "task");       // one map entry
 *     mk_rerr(&errs, v, "expected a mapping");               // "r.yaml:3:1: expected ..."
 */
#ifndef MK_RECIPE_TREE_H
#define MK_RECIPE_TREE_H

#include <stddef.h>
#include "mambakit.h"

enum mk_rnode_kind { MK_RN_SCALAR, MK_RN_MAP, MK_RN_SEQ };

struct mk_rnode {
    enum mk_rnode_kind kind;
    char *value;             /* scalar text */
    int plain;               /* scalar written without quotes (so `null` means null) */
    char *src;               /* file name or "--set KEY" */
    int line, col;           /* 1-based */
    int n, cap;              /* map pairs or sequence items */
    struct mk_rnode **key;   /* map: key scalars [n] */
    struct mk_rnode **val;   /* map: values [n]; sequence: items [n] */
};

/* Collected problems, one "SRC:LINE:COL: message" line each. */
struct mk_rerrs {
    char *buf;
    size_t len, cap;
    int n;
};

void mk_rerr(struct mk_rerrs *e, const struct mk_rnode *at, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* MK_OK if e holds nothing, else mk_fail(MK_ERR_INVALID, all lines); frees the buffer. */
mk_status mk_rerrs_finish(struct mk_rerrs *e);

/* Parses one YAML document (a mapping at the top, or empty) into *root. Syntax errors come
 * back as mk_fail(MK_ERR_FORMAT, "SRC:LINE:COL: ...") with libyaml's reason. */
mk_status mk_rtree_parse(struct mk_rnode **root, const char *src, const char *text, size_t len);
void mk_rtree_free(struct mk_rnode *n);
/* The value of `key` in a map node, or NULL (also when n is NULL or not a map). */
struct mk_rnode *mk_rtree_get(const struct mk_rnode *n, const char *key);
/* Follows a dotted path of map keys ("task.optimizer.lr"), or NULL. */
struct mk_rnode *mk_rtree_path(const struct mk_rnode *root, const char *dotted);
/* Puts `value` at the dotted path, creating maps on the way and replacing what was there;
 * takes ownership of value. Fails (into e) when the path runs through a scalar or list. */
void mk_rtree_set(struct mk_rnode *root, const char *dotted, struct mk_rnode *value,
                  struct mk_rerrs *e);

#endif /* MK_RECIPE_TREE_H */
