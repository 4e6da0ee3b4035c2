/*
 * vmgate — vmgatectl's output: aligned tables for people, JSON for
 * scripts, and one-line renderings of audit records.
 */
#ifndef VG_CTL_OUTPUT_H
#define VG_CTL_OUTPUT_H

#include <stdbool.h>
#include <stdio.h>

#include <json-glib/json-glib.h>

/** An aligned text table being filled (see vg_ctl_table_new). */
typedef struct vg_ctl_table vg_ctl_table;

/**
 * A table with one column per header: @header and those that follow, up
 * to a NULL. Free with vg_ctl_table_free.
 */
vg_ctl_table *vg_ctl_table_new(const char *header, ...) G_GNUC_NULL_TERMINATED;

/** Free a table. NULL is fine. */
void vg_ctl_table_free(vg_ctl_table *t);

/**
 * Append a row of exactly as many cells as the table has columns (copied).
 * A NULL or empty cell is shown as "-". Control characters are shown as
 * '?' so a name cannot move the cursor of the terminal.
 */
void vg_ctl_table_add(vg_ctl_table *t, ...);

/** The number of rows added. */
unsigned vg_ctl_table_rows(const vg_ctl_table *t);

/** Print the header and the rows, columns padded to their widest cell. */
void vg_ctl_table_print(const vg_ctl_table *t, FILE *out);

/** Print @node as JSON and a newline: indented when @pretty, else on one line. */
void vg_ctl_print_json(JsonNode *node, bool pretty, FILE *out);

/**
 * An audit record as one line for people: its time, its event, then its
 * other members as key=value (values with spaces quoted, nested objects as
 * compact JSON). g_free the result.
 */
char *vg_ctl_format_record(JsonNode *record);

#endif /* VG_CTL_OUTPUT_H */
