/*
 * vmgate — vmgatectl's output (see ctl-output.h).
 */
#include "ctl-output.h"

#include <stdarg.h>
#include <string.h>

struct vg_ctl_table {
    guint columns;
    GPtrArray *cells; /* of char *, row by row, the header first */
};

/* @s with control characters replaced, valid UTF-8, "-" when empty. */
static char *clean_cell(const char *s)
{
    char *t;

    if (!s || !*s)
        return g_strdup("-");
    t = g_utf8_make_valid(s, -1);
    for (char *p = t; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    return t;
}

vg_ctl_table *vg_ctl_table_new(const char *header, ...)
{
    vg_ctl_table *t = g_new0(vg_ctl_table, 1);
    va_list ap;

    t->cells = g_ptr_array_new_with_free_func(g_free);
    va_start(ap, header);
    for (const char *h = header; h; h = va_arg(ap, const char *)) {
        g_ptr_array_add(t->cells, g_strdup(h));
        t->columns++;
    }
    va_end(ap);
    return t;
}

void vg_ctl_table_free(vg_ctl_table *t)
{
    if (!t)
        return;
    g_ptr_array_unref(t->cells);
    g_free(t);
}

void vg_ctl_table_add(vg_ctl_table *t, ...)
{
    va_list ap;

    va_start(ap, t);
    for (guint i = 0; i < t->columns; i++)
        g_ptr_array_add(t->cells, clean_cell(va_arg(ap, const char *)));
    va_end(ap);
}

unsigned vg_ctl_table_rows(const vg_ctl_table *t)
{
    return t->columns ? t->cells->len / t->columns - 1 : 0;
}

void vg_ctl_table_print(const vg_ctl_table *t, FILE *out)
{
    g_autofree glong *width = g_new0(glong, t->columns);

    for (guint i = 0; i < t->cells->len; i++) {
        glong w = g_utf8_strlen(g_ptr_array_index(t->cells, i), -1);
        width[i % t->columns] = MAX(width[i % t->columns], w);
    }
    for (guint i = 0; i < t->cells->len; i++) {
        const char *cell = g_ptr_array_index(t->cells, i);
        guint col = i % t->columns;

        if (col + 1 == t->columns) {
            fprintf(out, "%s\n", cell);
        } else {
            glong pad = width[col] - g_utf8_strlen(cell, -1) + 2;
            fputs(cell, out);
            fprintf(out, "%*s", (int)pad, "");
        }
    }
}

void vg_ctl_print_json(JsonNode *node, bool pretty, FILE *out)
{
    g_autofree char *text = json_to_string(node, pretty);

    fprintf(out, "%s\n", text);
}

/* A scalar or compact JSON for a member value; strings with spaces quoted. */
static char *format_value(JsonNode *n)
{
    if (JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING) {
        const char *s = json_node_get_string(n);
        if (!*s || strpbrk(s, " \t\"=\\"))
            return json_to_string(n, FALSE); /* quoted and escaped */
        return g_strdup(s);
    }
    return json_to_string(n, FALSE);
}

char *vg_ctl_format_record(JsonNode *record)
{
    GString *out = g_string_new(NULL);
    JsonObject *o;
    JsonObjectIter it;
    const char *name;
    JsonNode *value;
    char *line;

    if (!JSON_NODE_HOLDS_OBJECT(record)) {
        g_autofree char *text = json_to_string(record, FALSE);
        g_string_append(out, text);
    } else {
        o = json_node_get_object(record);
        g_string_append_printf(out, "%s  %-12s",
                               json_object_get_string_member_with_default(o, "time", "?"),
                               json_object_get_string_member_with_default(o, "event", "?"));
        json_object_iter_init_ordered(&it, o);
        while (json_object_iter_next_ordered(&it, &name, &value)) {
            g_autofree char *v = NULL;
            if (strcmp(name, "time") == 0 || strcmp(name, "event") == 0)
                continue;
            v = format_value(value);
            g_string_append_printf(out, " %s=%s", name, v);
        }
    }
    line = g_string_free(out, FALSE);
    for (char *p = line; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    return line;
}
