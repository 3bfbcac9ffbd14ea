/* test_openapi.c: openapi.yaml and the daemon's route table (server/api.c
 * srv_routes) list the same (method, path) pairs, and every documented
 * route answers something other than "no route" on a live daemon. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "it.h"

typedef struct route {
    char method[8];
    char path[128];
} route;

/* "{name}" and "*" become "{}" so both spellings compare equal. */
static void normalize(const char *in, char *out, size_t cap)
{
    size_t k = 0;
    for (const char *p = in; *p && k + 3 < cap; p++) {
        if (*p == '{') {
            while (*p && *p != '}') p++;
            if (!*p) break;
            out[k++] = '{';
            out[k++] = '}';
        } else if (*p == '*') {
            out[k++] = '{';
            out[k++] = '}';
        } else {
            out[k++] = *p;
        }
    }
    out[k] = '\0';
}

static int from_source(route *r, int max)
{
    FILE *f = fopen(test_path("models/../server/api.c"), "r");
    char line[512];
    int n = 0, in_table = 0;
    if (!f) return -1;
    while (fgets(line, sizeof line, f) && n < max) {
        if (strstr(line, "const srv_route srv_routes[]")) in_table = 1;
        else if (in_table && line[0] == '}') break;
        else if (in_table) {
            char m[16], p[256];
            if (sscanf(line, " {\"%15[A-Z]\", \"%255[^\"]\"", m, p) == 2) {
                snprintf(r[n].method, sizeof r[n].method, "%s", m);
                normalize(p, r[n].path, sizeof r[n].path);
                n++;
            }
        }
    }
    fclose(f);
    return n;
}

static int from_spec(route *r, int max)
{
    FILE *f = fopen(test_path("models/../openapi.yaml"), "r");
    char line[512], cur[256] = "";
    int n = 0, in_paths = 0;
    if (!f) return -1;
    while (fgets(line, sizeof line, f) && n < max) {
        if (!strncmp(line, "paths:", 6)) { in_paths = 1; continue; }
        if (in_paths && line[0] != ' ' && line[0] != '\n') break;
        if (!in_paths) continue;
        if (!strncmp(line, "  /", 3)) {
            char *colon = strrchr(line, ':');
            if (colon) *colon = '\0';
            normalize(line + 2, cur, sizeof cur);
        } else if (line[0] == ' ' && line[1] == ' ' && line[2] == ' ' && line[3] == ' ' && line[4] != ' ') {
            static const char *const ms[] = {"get", "post", "delete", "put", "patch"};
            for (int i = 0; i < 5; i++) {
                size_t l = strlen(ms[i]);
                if (!strncmp(line + 4, ms[i], l) && line[4 + l] == ':') {
                    for (size_t k = 0; k < l; k++) r[n].method[k] = (char)(ms[i][k] - 32);
                    r[n].method[l] = '\0';
                    snprintf(r[n].path, sizeof r[n].path, "%s", cur);
                    n++;
                }
            }
        }
    }
    fclose(f);
    return n;
}

static int has(const route *r, int n, const route *x)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(r[i].method, x->method) && !strcmp(r[i].path, x->path)) return 1;
    return 0;
}

IT_TEST(it_openapi_in_step_with_routes, 0, NULL)
{
    route src[64], spec[64];
    int ns = from_source(src, 64), np = from_spec(spec, 64);
    CHECK_MSG(ns > 10, "route table not found in server/api.c (%d)", ns);
    CHECK_MSG(np > 10, "paths not found in openapi.yaml (%d)", np);
    for (int i = 0; i < ns; i++)
        CHECK_MSG(has(spec, np, &src[i]), "%s %s is served but not in openapi.yaml", src[i].method, src[i].path);
    for (int i = 0; i < np; i++)
        CHECK_MSG(has(src, ns, &spec[i]), "%s %s is in openapi.yaml but not served", spec[i].method, spec[i].path);
    /* Every documented route is routed (any status but "no route"). */
    for (int i = 0; i < np; i++) {
        char path[256];
        size_t k = 0;
        for (const char *p = spec[i].path; *p && k + 8 < sizeof path; p++) {
            if (p[0] == '{' && p[1] == '}') {
                memcpy(path + k, "x", 1);
                k += 1;
                p++;
            } else {
                path[k++] = *p;
            }
        }
        path[k] = '\0';
        if (strstr(path, "/load") || !strcmp(spec[i].method, "DELETE")) continue;   /* admin side effects */
        http_resp r;
        const char *hdr[] = {"Content-Type: application/json", NULL};
        HTTP(d, spec[i].method, path, NULL, strcmp(spec[i].method, "POST") ? NULL : "{}",
             strcmp(spec[i].method, "POST") ? 0 : 2, hdr, &r);
        CHECK_MSG(!(r.status == 404 && strstr(r.body, "no route")), "%s %s: no route", spec[i].method, path);
        CHECK_MSG(r.status != 405, "%s %s: 405", spec[i].method, path);
        it_free(&r);
    }
}
