/*
 * vmgate-shot — JUnit XML and JSON reports.
 *
 * JUnit as Jenkins, GitLab and GitHub's test reporters read it: a
 * testsuite per script, a testcase per step (named by its number, step and
 * line), <failure> with the message, <skipped/> for the steps a failure
 * left out, and the failing screen and diff named in <system-out> as
 * [[ATTACHMENT|path]] lines (the Jenkins attachments convention).
 */
#include "shot-report.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <json-glib/json-glib.h>

static const char *status_name(shot_status s)
{
    switch (s) {
    case SHOT_PASSED:
        return "passed";
    case SHOT_FAILED:
        return "failed";
    case SHOT_SKIPPED:
        break;
    }
    return "skipped";
}

static char *case_name(const shot_result *r)
{
    if (!r->step)
        return g_strdup("connect");
    return g_strdup_printf("%02d %s (line %d)", r->index, r->step->source, r->step->line);
}

static int save(const char *path, const char *text, char *why, size_t why_len)
{
    g_autoptr(GError) err = NULL;
    if (!g_file_set_contents(path, text, -1, &err)) {
        snprintf(why, why_len, "cannot write %s: %s", path, err->message);
        return -EIO;
    }
    return 0;
}

int shot_report_junit(const char *path, const shot_script *script, GPtrArray *results,
                      double seconds, char *why, size_t why_len)
{
    g_autoptr(GString) x = g_string_new("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    g_autofree char *base = g_path_get_basename(script->name);
    g_autofree char *suite = g_markup_escape_text(script->name, -1);
    g_autofree char *cls = NULL;
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *stamp = g_date_time_format(now, "%Y-%m-%dT%H:%M:%S");
    unsigned failures = 0, skipped = 0;

    {
        g_autofree char *c = g_strdup_printf("vmgate-shot.%s", base);
        cls = g_markup_escape_text(c, -1);
    }
    for (guint i = 0; i < results->len; i++) {
        const shot_result *r = results->pdata[i];
        failures += r->status == SHOT_FAILED;
        skipped += r->status == SHOT_SKIPPED;
    }
    g_string_append_printf(x, "<testsuites tests=\"%u\" failures=\"%u\" time=\"%.3f\">\n",
                           results->len, failures, seconds);
    g_string_append_printf(x,
                           "  <testsuite name=\"%s\" tests=\"%u\" failures=\"%u\" errors=\"0\" "
                           "skipped=\"%u\" time=\"%.3f\" timestamp=\"%s\">\n",
                           suite, results->len, failures, skipped, seconds, stamp);
    for (guint i = 0; i < results->len; i++) {
        const shot_result *r = results->pdata[i];
        g_autofree char *name = case_name(r);
        g_autofree char *ename = g_markup_escape_text(name, -1);
        g_autofree char *msg = g_markup_escape_text(r->message ? r->message : "", -1);

        g_string_append_printf(x, "    <testcase classname=\"%s\" name=\"%s\"", cls, ename);
        if (r->step) {
            g_autofree char *file = g_markup_escape_text(r->step->file, -1);
            g_string_append_printf(x, " file=\"%s\" line=\"%d\"", file, r->step->line);
        }
        g_string_append_printf(x, " time=\"%.3f\">\n", r->seconds);
        if (r->status == SHOT_FAILED) {
            g_string_append_printf(x, "      <failure message=\"%s\">%s", msg, msg);
            if (r->text) {
                g_autofree char *t = g_markup_escape_text(r->text, -1);
                g_string_append_printf(x, "\nThe screen reads:\n%s", t);
            }
            g_string_append(x, "</failure>\n");
        } else if (r->status == SHOT_SKIPPED) {
            g_string_append_printf(x, "      <skipped message=\"%s\"/>\n", msg);
        }
        if (r->screen || r->diff || (r->status == SHOT_PASSED && r->message)) {
            g_string_append(x, "      <system-out>");
            if (r->status == SHOT_PASSED && r->message)
                g_string_append_printf(x, "%s\n", msg);
            if (r->screen) {
                g_autofree char *p = g_markup_escape_text(r->screen, -1);
                g_string_append_printf(x, "[[ATTACHMENT|%s]]\n", p);
            }
            if (r->diff) {
                g_autofree char *p = g_markup_escape_text(r->diff, -1);
                g_string_append_printf(x, "[[ATTACHMENT|%s]]\n", p);
            }
            g_string_append(x, "</system-out>\n");
        }
        g_string_append(x, "    </testcase>\n");
    }
    g_string_append(x, "  </testsuite>\n</testsuites>\n");
    return save(path, x->str, why, why_len);
}

int shot_report_json(const char *path, const shot_script *script, GPtrArray *results, int exit_code,
                     double seconds, char *why, size_t why_len)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *text = NULL, *with_nl = NULL;
    bool passed = exit_code == 0;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "script");
    json_builder_add_string_value(b, script->name);
    json_builder_set_member_name(b, "passed");
    json_builder_add_boolean_value(b, passed);
    json_builder_set_member_name(b, "exit_code");
    json_builder_add_int_value(b, exit_code);
    json_builder_set_member_name(b, "seconds");
    json_builder_add_double_value(b, seconds);
    json_builder_set_member_name(b, "steps");
    json_builder_begin_array(b);
    for (guint i = 0; i < results->len; i++) {
        const shot_result *r = results->pdata[i];
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "index");
        json_builder_add_int_value(b, r->index);
        json_builder_set_member_name(b, "step");
        json_builder_add_string_value(b, r->step ? r->step->name : "connect");
        if (r->step) {
            json_builder_set_member_name(b, "file");
            json_builder_add_string_value(b, r->step->file);
            json_builder_set_member_name(b, "line");
            json_builder_add_int_value(b, r->step->line);
            json_builder_set_member_name(b, "source");
            json_builder_add_string_value(b, r->step->source);
        }
        json_builder_set_member_name(b, "status");
        json_builder_add_string_value(b, status_name(r->status));
        json_builder_set_member_name(b, "seconds");
        json_builder_add_double_value(b, r->seconds);
        if (r->message) {
            json_builder_set_member_name(b, "message");
            json_builder_add_string_value(b, r->message);
        }
        if (r->similarity >= 0) {
            json_builder_set_member_name(b, "similarity");
            json_builder_add_double_value(b, r->similarity);
        }
        if (r->text) {
            json_builder_set_member_name(b, "text");
            json_builder_add_string_value(b, r->text);
        }
        if (r->screen) {
            json_builder_set_member_name(b, "screen");
            json_builder_add_string_value(b, r->screen);
        }
        if (r->diff) {
            json_builder_set_member_name(b, "diff");
            json_builder_add_string_value(b, r->diff);
        }
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    json_generator_set_pretty(gen, TRUE);
    text = json_generator_to_data(gen, NULL);
    with_nl = g_strconcat(text, "\n", NULL);
    return save(path, with_nl, why, why_len);
}
