/* recipe_schema.h — internal to the recipe code: the table of every recipe key (dotted path,
 * type, default, range) and the functions that read a tree into struct mk_recipe through it
 * and print a struct back as YAML. recipes/README.md documents the same keys for users, and
 * a test checks that it names every key of this table.
 */
#ifndef MK_RECIPE_SCHEMA_H
#define MK_RECIPE_SCHEMA_H

#include <stddef.h>
#include <stdio.h>
#include "recipe.h"
#include "recipe_tree.h"

enum mk_rtype {
    MK_RT_INT,    /* int, [min, max]; written as an integer (or 1e6) */
    MK_RT_INT64,  /* int64_t, [min, max] */
    MK_RT_SEED,   /* uint64_t, any non-negative integer */
    MK_RT_FLOAT,  /* double, [min, max] */
    MK_RT_FLOATS, /* double[count], each in [min, max] */
    MK_RT_BOOL,   /* int 0/1: true/false (yes/no) */
    MK_RT_ENUM,   /* int: index into choices "a|b|c" */
    MK_RT_STR,    /* char *, NULL when absent and the default is NULL */
    MK_RT_GLOBS   /* struct mk_strlist of paths or globs, each must match a file */
};

struct mk_rkey {
    const char *key;     /* dotted path: "task.optimizer.lr" */
    enum mk_rtype type;
    size_t offset;       /* in struct mk_recipe */
    const char *def;     /* default as YAML text; NULL: absent (strings) */
    double min, max;     /* numeric range (both 0: any) */
    const char *choices; /* MK_RT_ENUM */
    int count;           /* MK_RT_FLOATS */
};

/* The table (ends with a NULL key). */
extern const struct mk_rkey mk_recipe_keys[];

/* The entry for a dotted key, or NULL. */
const struct mk_rkey *mk_rkey_find(const char *dotted);
/* 1 if some key of the table starts with "prefix." (so prefix is a section). */
int mk_rkey_is_section(const char *prefix);
/* The key closest to `dotted` by edit distance among the table's keys and sections under
 * the same parent (or with the same last part elsewhere); NULL if none is near. */
const char *mk_rkey_suggest(const char *dotted);

/* Sets every key of r to its default. */
void mk_recipe_defaults(struct mk_recipe *r);
/* Reads node `n` as key k into r; problems go to e. */
void mk_rkey_read(const struct mk_rkey *k, const struct mk_rnode *n, struct mk_recipe *r,
                  struct mk_rerrs *e);
/* Writes the value of k in r as YAML flow text (a scalar or [a, b]). */
void mk_rkey_write(const struct mk_rkey *k, const struct mk_recipe *r, FILE *f);
/* Frees what mk_rkey_read allocated in r. */
void mk_recipe_free_fields(struct mk_recipe *r);

#endif /* MK_RECIPE_SCHEMA_H */
