/* recipe.c — loading a recipe: YAML tree, `--set` overrides, the schema walk (unknown keys,
 * types, ranges, files), the cross-field rules (recipe_rules.c), and the data plugin; then
 * printing the resolved recipe. See recipe.h for the stages.
 */
#include "config.h"
#include <stdlib.h>
#include <string.h>
#include "recipe_schema.h"

/* Cross-field rules and the plugin stage (recipe_rules.c). */
void mk_recipe_rules(struct mk_recipe *r, const struct mk_rnode *root, struct mk_rerrs *e);
void mk_recipe_open_plugin(struct mk_recipe *r, const struct mk_rnode *root,
                           struct mk_rnode *const *opt_nodes, struct mk_rerrs *e);

const char *mk_recipe_split_name(int split)
{
    static const char *const names[] = {"train", "val", "test"};
    return split >= 0 && split < MK_N_SPLITS ? names[split] : "?";
}

const char *mk_recipe_kind_name(int kind)
{
    static const char *const names[] = {"train", "classify", "generate", "eval"};
    return kind >= MK_TASK_TRAIN && kind <= MK_TASK_EVAL ? names[kind] : "?";
}

/* Plugin options: the data keys the schema does not know, flattened to key/value text. The
 * key nodes are kept beside them so that a plugin's complaint can point at the right line. */
struct optlist {
    struct mk_kv *kv;
    struct mk_rnode **node;
    int n, cap;
};

static void opt_add(struct optlist *o, const char *key, struct mk_rnode *at,
                    struct mk_rnode *v, struct mk_rerrs *e)
{
    if (v->kind == MK_RN_MAP) {
        for (int i = 0; i < v->n; i++) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s.%s", key, v->key[i]->value);
            opt_add(o, sub, v->key[i], v->val[i], e);
        }
        return;
    }
    if (v->kind == MK_RN_SEQ) {
        for (int i = 0; i < v->n; i++)
            opt_add(o, key, at, v->val[i], e);
        return;
    }
    if (o->n == o->cap) {
        int cap = o->cap ? 2 * o->cap : 8;
        struct mk_kv *kv = realloc(o->kv, (size_t)cap * sizeof *kv);
        if (kv)
            o->kv = kv;
        struct mk_rnode **nd = realloc(o->node, (size_t)cap * sizeof *nd);
        if (nd)
            o->node = nd;
        if (!kv || !nd) {
            mk_rerr(e, v, "out of memory");
            return;
        }
        o->cap = cap;
    }
    o->kv[o->n].key = strdup(key);
    o->kv[o->n].value = strdup(v->value);
    o->node[o->n++] = at;
}

static void walk(struct mk_recipe *r, const struct mk_rnode *map, const char *prefix,
                 struct optlist *opts, struct mk_rerrs *e)
{
    for (int i = 0; i < map->n; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s%s%s", prefix, prefix[0] ? "." : "", map->key[i]->value);
        struct mk_rnode *v = map->val[i];
        const struct mk_rkey *k = mk_rkey_find(path);
        if (k) {
            mk_rkey_read(k, v, r, e);
        } else if (mk_rkey_is_section(path)) {
            if (v->kind == MK_RN_MAP)
                walk(r, v, path, opts, e);
            else
                mk_rerr(e, v, "%s: expected a mapping of keys", path);
        } else if (!strcmp(prefix, "data")) {
            opt_add(opts, map->key[i]->value, map->key[i], v, e); /* the plugin checks these */
        } else {
            const char *near = mk_rkey_suggest(path);
            if (near)
                mk_rerr(e, map->key[i], "unknown key '%s' (did you mean '%s'?)", path, near);
            else
                mk_rerr(e, map->key[i], "unknown key '%s'", path);
        }
    }
}

/* Applies one "a.b.c=VALUE" override; VALUE is read as YAML, in a node named "--set a.b.c". */
static void apply_set(struct mk_rnode *root, const char *set, struct mk_rerrs *e)
{
    const char *eq = strchr(set, '=');
    if (!eq || eq == set) {
        mk_rerr(e, NULL, "--set %s: expected KEY=VALUE, e.g. task.max_steps=100", set);
        return;
    }
    char key[256], src[300], doc[4096];
    snprintf(key, sizeof key, "%.*s", (int)(eq - set), set);
    snprintf(src, sizeof src, "--set %s", key);
    snprintf(doc, sizeof doc, "v: %s", eq + 1);
    struct mk_rnode *tree;
    if (mk_rtree_parse(&tree, src, doc, strlen(doc)) != MK_OK) {
        mk_rerr(e, NULL, "%s", mk_last_error());
        return;
    }
    struct mk_rnode *v = tree->val[0];
    tree->n = 0; /* detach v from the little tree before freeing it */
    mk_rtree_free(tree->key[0]);
    mk_rtree_free(tree);
    mk_rtree_set(root, key, v, e);
}

mk_status mk_recipe_parse(struct mk_recipe **out, const char *name, const char *text,
                          size_t len, const char *const *sets, int n_sets)
{
    *out = NULL;
    struct mk_recipe *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(name)) || !(r->text = strndup(text, len))) {
        mk_recipe_free(r);
        return mk_fail(MK_ERR_NOMEM, "out of memory reading the recipe");
    }
    struct mk_rnode *root;
    mk_status st = mk_rtree_parse(&root, name, text, len);
    if (st != MK_OK) {
        mk_recipe_free(r);
        return st;
    }
    struct mk_rerrs e = {0};
    for (int i = 0; i < n_sets; i++)
        apply_set(root, sets[i], &e);
    mk_recipe_defaults(r);
    if (!mk_rtree_get(root, "version"))
        mk_rerr(&e, root, "missing 'version: 1' (the recipe schema version)");
    struct optlist opts = {0};
    walk(r, root, "", &opts, &e);
    r->plugin_opts = opts.kv;
    r->n_plugin_opts = opts.n;
    if (e.n == 0)
        mk_recipe_rules(r, root, &e);
    if (e.n == 0)
        mk_recipe_open_plugin(r, root, opts.node, &e);
    free(opts.node);
    mk_rtree_free(root);
    st = mk_rerrs_finish(&e);
    if (st != MK_OK)
        mk_recipe_free(r);
    else
        *out = r;
    return st;
}

mk_status mk_recipe_load(struct mk_recipe **out, const char *path, const char *const *sets,
                         int n_sets)
{
    unsigned char *text;
    size_t len;
    *out = NULL;
    mk_status st = mk_read_file(path, &text, &len);
    if (st != MK_OK)
        return st;
    st = mk_recipe_parse(out, path, (const char *)text, len, sets, n_sets);
    free(text);
    return st;
}

void mk_recipe_free(struct mk_recipe *r)
{
    if (!r)
        return;
    mk_recipe_free_fields(r);
    for (int i = 0; i < r->n_plugin_opts; i++) {
        free((char *)r->plugin_opts[i].key);
        free((char *)r->plugin_opts[i].value);
    }
    free(r->plugin_opts);
    mk_codec_close(r->codec);
    free(r->path);
    free(r->text);
    free(r);
}

/* The plugin's options, one key per line; a list option was flattened to consecutive
 * entries with the same key, and is printed back as one YAML flow sequence. */
static void print_plugin_opts(const struct mk_recipe *r, FILE *f, int indent)
{
    for (int i = 0; i < r->n_plugin_opts;) {
        const char *key = r->plugin_opts[i].key;
        int n = 1;
        while (i + n < r->n_plugin_opts && !strcmp(r->plugin_opts[i + n].key, key))
            n++;
        fprintf(f, "%*s\"%s\": %s", indent, "", key, n > 1 ? "[" : "");
        for (int j = 0; j < n; j++)
            fprintf(f, "%s\"%s\"", j ? ", " : "", r->plugin_opts[i + j].value);
        fputs(n > 1 ? "]\n" : "\n", f);
        i += n;
    }
}

/* Prints the keys in table order as nested YAML: a section header is printed when the
 * dotted prefix changes. The plugin's options follow data.plugin. */
void mk_recipe_print(const struct mk_recipe *r, FILE *f)
{
    char open[8][64]; /* the sections currently open, by depth */
    int depth = 0;
    fprintf(f, "# resolved recipe of %s (every key, defaults filled in)\n", r->path);
    for (const struct mk_rkey *k = mk_recipe_keys; k->key; k++) {
        char parts[8][64];
        int np = 0;
        for (const char *s = k->key; np < 8;) {
            const char *dot = strchr(s, '.');
            snprintf(parts[np++], 64, "%.*s", dot ? (int)(dot - s) : (int)strlen(s), s);
            if (!dot)
                break;
            s = dot + 1;
        }
        int same = 0;
        while (same < depth && same < np - 1 && !strcmp(open[same], parts[same]))
            same++;
        for (depth = same; depth < np - 1; depth++) {
            fprintf(f, "%*s%s:\n", 2 * depth, "", parts[depth]);
            snprintf(open[depth], 64, "%s", parts[depth]);
        }
        fprintf(f, "%*s%s: ", 2 * depth, "", parts[np - 1]);
        mk_rkey_write(k, r, f);
        fputc('\n', f);
        if (!strcmp(k->key, "data.plugin"))
            print_plugin_opts(r, f, 2 * depth);
    }
}

char *mk_recipe_resolved(const struct mk_recipe *r)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    mk_recipe_print(r, f);
    fclose(f);
    return buf;
}
