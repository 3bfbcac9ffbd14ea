/* test_stream.c: server-sent events: framing (event/id/data lines, blank
 * line separators), one `timestep` event per step then one `result`, ids
 * increasing; the same through ?stream=true; and the browser flow (POST
 * /v1/jobs, GET its events, resume with Last-Event-ID). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "it.h"

typedef struct sse_event {
    char name[32];
    long id;
    json_t *data;
} sse_event;

/* Parse an SSE body; returns the event count (comments skipped), -1 when
 * a line is not event:/id:/data:/comment or an event lacks a part. */
static int parse_sse(const char *body, sse_event *ev, int max)
{
    int n = 0;
    const char *p = body;
    while (*p && n < max) {
        sse_event e = {{0}, -1, NULL};
        int any = 0;
        while (*p && *p != '\n') {
            const char *eol = strchr(p, '\n');
            if (!eol) return -1;
            if (*p == ':') { /* comment */ }
            else if (!strncmp(p, "event: ", 7)) snprintf(e.name, sizeof e.name, "%.*s", (int)(eol - p - 7), p + 7);
            else if (!strncmp(p, "id: ", 4)) e.id = strtol(p + 4, NULL, 10);
            else if (!strncmp(p, "data: ", 6)) {
                json_error_t je;
                e.data = json_loadb(p + 6, (size_t)(eol - p - 6), 0, &je);
                if (!e.data) return -1;
            } else if (!strncmp(p, "retry: ", 7)) {
                /* reconnect delay: a field of the stream, not of an event */
                p = eol + 1;
                continue;
            } else return -1;
            if (*p != ':') any = 1;
            p = eol + 1;
        }
        if (*p == '\n') p++;
        if (!any) continue;
        if (!e.name[0] || e.id < 0 || !e.data) return -1;
        ev[n++] = e;
    }
    return n;
}

static void free_events(sse_event *ev, int n)
{
    for (int i = 0; i < n; i++) json_decref(ev[i].data);
}

/* "retry: 2000" first (EventSource's reconnect delay), then steps timestep
 * events with ids 1..steps, then result id steps+1. */
static int check_stream(const char *body, int steps, int nclasses, int first_id)
{
    sse_event ev[256];
    int n = parse_sse(body, ev, 256), ok = 1;
    int expect = steps - first_id + 2;
    if (n != expect || strncmp(body, "retry: 2000\n\n", 13)) ok = 0;
    for (int i = 0; ok && i < n; i++) {
        if (ev[i].id != first_id + i) ok = 0;
        else if (i < n - 1) {
            ok = !strcmp(ev[i].name, "timestep") &&
                 json_integer_value(json_object_get(ev[i].data, "step")) == first_id + i &&
                 (int)json_array_size(json_object_get(ev[i].data, "probabilities")) == nclasses;
        } else {
            ok = !strcmp(ev[i].name, "result") &&
                 (int)json_array_size(json_object_get(ev[i].data, "probabilities")) == steps;
        }
    }
    if (!ok) printf("  stream had %d events (expected %d):\n%.2000s\n", n, expect, body);
    free_events(ev, n > 0 ? n : 0);
    return ok;
}

IT_TEST(it_sse_accept_header, 0, NULL)
{
    uint8_t *png;
    size_t len;
    http_resp r;
    const char *hdr[] = {"Accept: text/event-stream", NULL};
    CHECK_OK(it_png(d, d->in_w, d->in_h, d->in_c == 3 ? 3 : 1, &png, &len));
    HTTP(d, "POST", "/classify?steps=6", "image/png", png, len, hdr, &r);
    free(png);
    CHECK_EQ_INT(r.status, 200);
    CHECK(strstr(it_header(&r, "Content-Type"), "text/event-stream"));
    CHECK(it_header(&r, "X-Request-ID"));
    CHECK(check_stream(r.body, 6, d->nclasses, 1));
    it_free(&r);
}

IT_TEST(it_sse_query_and_error_event, 0, NULL)
{
    uint8_t *png;
    size_t len;
    http_resp r;
    CHECK_OK(it_png(d, d->in_w, d->in_h, d->in_c == 3 ? 3 : 1, &png, &len));
    HTTP(d, "POST", "/classify?steps=3&stream=true", "image/png", png, len, NULL, &r);
    free(png);
    CHECK_EQ_INT(r.status, 200);
    CHECK(check_stream(r.body, 3, d->nclasses, 1));
    it_free(&r);
    /* Errors found before the stream starts are plain JSON errors. */
    HTTP(d, "POST", "/classify?stream=true", "image/png", "\x89PNGxx", 6, NULL, &r);
    CHECK_EQ_INT(r.status, 400);
    it_free(&r);
}

IT_TEST(it_jobs_eventsource_flow, 0, NULL)
{
    uint8_t *png;
    size_t len;
    http_resp r;
    char path[256], job[64];
    CHECK_OK(it_png(d, d->in_w, d->in_h, d->in_c == 3 ? 3 : 1, &png, &len));
    HTTP(d, "POST", "/v1/jobs?steps=5", "image/png", png, len, NULL, &r);
    free(png);
    CHECK_MSG(r.status == 202, "status %ld: %s", r.status, r.body);
    json_t *o = it_json(&r);
    it_free(&r);
    CHECK(json_is_string(json_object_get(o, "job")));
    snprintf(job, sizeof job, "%s", json_string_value(json_object_get(o, "job")));
    snprintf(path, sizeof path, "%s", json_string_value(json_object_get(o, "events")));
    json_decref(o);
    HTTP(d, "GET", path, NULL, NULL, 0, NULL, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK(strstr(it_header(&r, "Content-Type"), "text/event-stream"));
    CHECK(check_stream(r.body, 5, d->nclasses, 1));
    it_free(&r);
    /* Reconnect after event 3: events 4, 5 and the result. */
    const char *hdr[] = {"Last-Event-ID: 3", NULL};
    HTTP(d, "GET", path, NULL, NULL, 0, hdr, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK(check_stream(r.body, 5, d->nclasses, 4));
    it_free(&r);
    /* With every event, the result's included, a reconnect is 204: the
     * status that makes EventSource stop reconnecting. */
    const char *all[] = {"Last-Event-ID: 6", NULL};
    HTTP(d, "GET", path, NULL, NULL, 0, all, &r);
    CHECK_EQ_INT(r.status, 204);
    CHECK_EQ_INT((int)r.len, 0);
    it_free(&r);
    char q[300];
    snprintf(q, sizeof q, "%s?last_event_id=6", path);
    HTTP(d, "GET", q, NULL, NULL, 0, NULL, &r);
    CHECK_EQ_INT(r.status, 204);
    it_free(&r);
    snprintf(path, sizeof path, "/v1/jobs/%s", job);
    HTTP(d, "GET", path, NULL, NULL, 0, NULL, &r);
    CHECK_EQ_INT(r.status, 200);
    o = it_json(&r);
    it_free(&r);
    CHECK(!strcmp(json_string_value(json_object_get(o, "state")), "done"));
    CHECK_EQ_INT(json_integer_value(json_object_get(o, "status")), 200);
    CHECK(json_is_object(json_object_get(o, "result")));
    json_decref(o);
    HTTP(d, "GET", "/v1/jobs/0123456789abcdef/events", NULL, NULL, 0, NULL, &r);
    CHECK_EQ_INT(r.status, 404);
    it_free(&r);
}

/* A run that fails after its stream started ends with a `failure` event
 * carrying the status (not `error`, EventSource's own connection event):
 * the workers are paused, so the job's deadline passes in the queue. */
IT_TEST(it_jobs_failure_event, 0, NULL)
{
    uint8_t *png;
    size_t len;
    http_resp r;
    CHECK_EQ_INT(it_admin(d, "pause"), 200);
    CHECK_OK(it_png(d, d->in_w, d->in_h, d->in_c == 3 ? 3 : 1, &png, &len));
    HTTP(d, "POST", "/v1/jobs?steps=5&timeout_ms=100", "image/png", png, len, NULL, &r);
    free(png);
    CHECK_MSG(r.status == 202, "status %ld: %s", r.status, r.body);
    json_t *o = it_json(&r);
    it_free(&r);
    char path[256];
    snprintf(path, sizeof path, "%s", json_string_value(json_object_get(o, "events")));
    json_decref(o);
    /* the stream ends with the failure, while the workers stay paused */
    HTTP(d, "GET", path, NULL, NULL, 0, NULL, &r);
    CHECK_EQ_INT(r.status, 200);
    sse_event ev[8];
    int n = parse_sse(r.body, ev, 8);
    CHECK_MSG(n == 1 && !strcmp(ev[0].name, "failure"), "events: %.400s", r.body);
    if (n == 1) {
        CHECK_EQ_INT(json_integer_value(json_object_get(ev[0].data, "status")), 504);
        CHECK(json_is_string(json_object_get(ev[0].data, "error")));
    }
    CHECK(!strstr(r.body, "event: error"));
    free_events(ev, n > 0 ? n : 0);
    it_free(&r);
    CHECK_EQ_INT(it_admin(d, "resume"), 200);
}
