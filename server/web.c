/* web.c: the page at / ("watch the network think") and its static files.
 *
 * DESIGN: the files live in web/ (index.html, app.js, style.css, a few
 * sample PNGs) and are compiled in as byte arrays (web_assets.c, generated
 * by tools/embed-web.sh and committed), so the daemon serves its page with
 * no files on disk, no CDN and no build step at run time. The page talks
 * only to the public API (/v1/models, POST /v1/jobs, the job's SSE events),
 * so it can never see more than a curl client can. URL space: "/" is the
 * page, "/static/NAME" the other files; the lookup is a binary search over
 * the sorted table and refuses anything that could name a path outside it.
 */
#include "web.h"

#include <string.h>

static int cmp_name(const char *a, size_t alen, const char *b)
{
    int c = strncmp(a, b, alen);
    if (c) return c;
    return b[alen] ? -1 : 0;
}

int srv_web_lookup(const char *path, const char **content_type,
                   const unsigned char **body, size_t *len)
{
    const char *name;
    size_t n;
    if (!path) return 0;
    n = strcspn(path, "?#");
    if ((n == 1 && path[0] == '/') || (n == 11 && !strncmp(path, "/index.html", 11))) {
        name = "/index.html";
        n = 11;
    } else if (n > 8 && !strncmp(path, "/static/", 8)) {
        name = path + 7;   /* keeps the slash: "/app.js" */
        n -= 7;
    } else {
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        if (name[i] == '\\' || (name[i] == '/' && i + 1 < n && (name[i + 1] == '/' || name[i + 1] == '.')))
            return 0;
    int lo = 0, hi = srv_web_nassets - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        int c = cmp_name(name, n, srv_web_assets[mid].name);
        if (c == 0) {
            *content_type = srv_web_assets[mid].content_type;
            *body = srv_web_assets[mid].body;
            *len = srv_web_assets[mid].len;
            return 1;
        }
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return 0;
}
