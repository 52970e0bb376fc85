/* recipe_tree.c — libyaml's document loader turned into struct mk_rnode trees (see
 * recipe_tree.h), plus the error list the recipe checks write into.
 *
 * libyaml's marks are 0-based; the tree stores 1-based line and column, as editors show.
 * Aliases are expanded (a node reached twice is copied), and duplicate map keys are refused
 * because YAML says they are an error and a recipe that silently takes the second is a trap.
 */
#include "config.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>
#include "recipe_tree.h"

void mk_rerr(struct mk_rerrs *e, const struct mk_rnode *at, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char line[1400];
    int k = at ? snprintf(line, sizeof line, "%s:%d:%d: %s\n", at->src, at->line, at->col, msg)
               : snprintf(line, sizeof line, "%s\n", msg);
    size_t len = k < 0 ? 0 : (size_t)k < sizeof line ? (size_t)k : sizeof line - 1;
    if (e->len + len + 1 > e->cap) {
        size_t cap = (e->len + len + 1) * 2;
        char *p = realloc(e->buf, cap);
        if (!p)
            return; /* the count below still makes the recipe fail */
        e->buf = p;
        e->cap = cap;
    }
    memcpy(e->buf + e->len, line, len);
    e->len += len;
    e->buf[e->len] = 0;
    e->n++;
}

mk_status mk_rerrs_finish(struct mk_rerrs *e)
{
    mk_status st = MK_OK;
    if (e->n > 0) {
        if (e->len > 0 && e->buf[e->len - 1] == '\n')
            e->buf[--e->len] = 0;
        st = mk_fail(MK_ERR_INVALID, "%s", e->buf ? e->buf : "invalid recipe (out of memory)");
    }
    free(e->buf);
    memset(e, 0, sizeof *e);
    return st;
}

static struct mk_rnode *node_new(enum mk_rnode_kind kind, const char *src, int line, int col)
{
    struct mk_rnode *n = calloc(1, sizeof *n);
    if (n && !(n->src = strdup(src))) {
        free(n);
        return NULL;
    }
    if (n) {
        n->kind = kind;
        n->line = line;
        n->col = col;
    }
    return n;
}

void mk_rtree_free(struct mk_rnode *n)
{
    if (!n)
        return;
    for (int i = 0; i < n->n; i++) {
        if (n->key)
            mk_rtree_free(n->key[i]);
        mk_rtree_free(n->val[i]);
    }
    free(n->key);
    free(n->val);
    free(n->value);
    free(n->src);
    free(n);
}

/* Appends (k, v) to a map or v to a sequence (k = NULL); 0 or -1 when out of memory. */
static int node_push(struct mk_rnode *n, struct mk_rnode *k, struct mk_rnode *v)
{
    if (n->n == n->cap) {
        int cap = n->cap ? n->cap * 2 : 8;
        struct mk_rnode **nv = realloc(n->val, (size_t)cap * sizeof *nv);
        if (!nv)
            return -1;
        n->val = nv;
        if (n->kind == MK_RN_MAP) {
            struct mk_rnode **nk = realloc(n->key, (size_t)cap * sizeof *nk);
            if (!nk)
                return -1;
            n->key = nk;
        }
        n->cap = cap;
    }
    if (n->kind == MK_RN_MAP)
        n->key[n->n] = k;
    n->val[n->n++] = v;
    return 0;
}

struct mk_rnode *mk_rtree_get(const struct mk_rnode *n, const char *key)
{
    if (!n || n->kind != MK_RN_MAP)
        return NULL;
    for (int i = 0; i < n->n; i++)
        if (!strcmp(n->key[i]->value, key))
            return n->val[i];
    return NULL;
}

struct mk_rnode *mk_rtree_path(const struct mk_rnode *root, const char *dotted)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", dotted);
    const struct mk_rnode *n = root;
    for (char *save = NULL, *part = strtok_r(buf, ".", &save); part && n;
         part = strtok_r(NULL, ".", &save))
        n = mk_rtree_get(n, part);
    return (struct mk_rnode *)n;
}

/* Converts libyaml node `id` of doc; depth guards against alias loops. */
static struct mk_rnode *convert(yaml_document_t *doc, int id, const char *src, int depth,
                                struct mk_rerrs *e)
{
    yaml_node_t *y = yaml_document_get_node(doc, id);
    if (!y || depth > 64)
        return NULL;
    int line = (int)y->start_mark.line + 1, col = (int)y->start_mark.column + 1;
    struct mk_rnode *n = NULL;
    switch (y->type) {
    case YAML_SCALAR_NODE:
        if ((n = node_new(MK_RN_SCALAR, src, line, col))) {
            n->value = strndup((const char *)y->data.scalar.value, y->data.scalar.length);
            n->plain = y->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
            if (!n->value) {
                mk_rtree_free(n);
                n = NULL;
            }
        }
        return n;
    case YAML_SEQUENCE_NODE:
        if (!(n = node_new(MK_RN_SEQ, src, line, col)))
            return NULL;
        for (yaml_node_item_t *it = y->data.sequence.items.start;
             it < y->data.sequence.items.top; it++) {
            struct mk_rnode *v = convert(doc, *it, src, depth + 1, e);
            if (!v || node_push(n, NULL, v) != 0) {
                mk_rtree_free(v);
                mk_rtree_free(n);
                return NULL;
            }
        }
        return n;
    case YAML_MAPPING_NODE:
        if (!(n = node_new(MK_RN_MAP, src, line, col)))
            return NULL;
        for (yaml_node_pair_t *p = y->data.mapping.pairs.start; p < y->data.mapping.pairs.top;
             p++) {
            struct mk_rnode *k = convert(doc, p->key, src, depth + 1, e);
            struct mk_rnode *v = convert(doc, p->value, src, depth + 1, e);
            int bad = !k || !v;
            if (!bad && k->kind != MK_RN_SCALAR) {
                mk_rerr(e, k, "a key must be a plain word");
                bad = 1;
            } else if (!bad && mk_rtree_get(n, k->value)) {
                mk_rerr(e, k, "duplicate key '%s'", k->value);
                bad = 1;
            }
            if (bad || node_push(n, k, v) != 0) {
                mk_rtree_free(k);
                mk_rtree_free(v);
                if (!bad) {
                    mk_rtree_free(n);
                    return NULL;
                }
            }
        }
        return n;
    default:
        return NULL;
    }
}

mk_status mk_rtree_parse(struct mk_rnode **root, const char *src, const char *text, size_t len)
{
    *root = NULL;
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser))
        return mk_fail(MK_ERR_NOMEM, "%s: cannot start the YAML parser", src);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        yaml_mark_t mk = parser.problem_mark;
        mk_status st = mk_fail(MK_ERR_FORMAT, "%s:%d:%d: YAML syntax error: %s%s%s", src,
                               (int)mk.line + 1, (int)mk.column + 1,
                               parser.problem ? parser.problem : "unreadable",
                               parser.context ? " " : "", parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        return st;
    }
    struct mk_rerrs e = {0};
    yaml_node_t *top = yaml_document_get_root_node(&doc);
    mk_status st = MK_OK;
    if (!top) {
        *root = node_new(MK_RN_MAP, src, 1, 1); /* an empty file */
    } else if (top->type != YAML_MAPPING_NODE) {
        st = mk_fail(MK_ERR_FORMAT, "%s:%d:%d: a recipe is a mapping of sections (version, "
                     "model, data, task, run)", src, (int)top->start_mark.line + 1,
                     (int)top->start_mark.column + 1);
    } else {
        *root = convert(&doc, 1, src, 0, &e);
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (st == MK_OK && !*root)
        st = mk_fail(MK_ERR_NOMEM, "%s: out of memory reading the recipe", src);
    if (st == MK_OK && (st = mk_rerrs_finish(&e)) != MK_OK) {
        mk_rtree_free(*root);
        *root = NULL;
    }
    free(e.buf);
    return st;
}

void mk_rtree_set(struct mk_rnode *root, const char *dotted, struct mk_rnode *value,
                  struct mk_rerrs *e)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", dotted);
    struct mk_rnode *n = root;
    char *save = NULL, *part = strtok_r(buf, ".", &save);
    while (part) {
        char *next = strtok_r(NULL, ".", &save);
        if (n->kind != MK_RN_MAP) {
            mk_rerr(e, value, "cannot set '%s': '%s' is not a section", dotted, part);
            mk_rtree_free(value);
            return;
        }
        int i = 0;
        while (i < n->n && strcmp(n->key[i]->value, part) != 0)
            i++;
        if (i == n->n) { /* a new key: a map on the way, the value at the end */
            struct mk_rnode *k = node_new(MK_RN_SCALAR, value->src, value->line, value->col);
            struct mk_rnode *v = next ? node_new(MK_RN_MAP, value->src, value->line, value->col)
                                      : value;
            if (k && !(k->value = strdup(part))) {
                mk_rtree_free(k);
                k = NULL;
            }
            if (!k || !v || node_push(n, k, v) != 0) {
                mk_rtree_free(k);
                if (v != value)
                    mk_rtree_free(v);
                mk_rtree_free(value);
                mk_rerr(e, NULL, "out of memory setting '%s'", dotted);
                return;
            }
        } else if (!next) {
            mk_rtree_free(n->val[i]);
            n->val[i] = value;
        }
        n = n->val[i];
        part = next;
    }
}
