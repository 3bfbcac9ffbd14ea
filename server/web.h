/* web.h: PRIVATE header of snnd: the web page's static files, embedded in
 * the binary (server/web_assets.c, generated from web/ by
 * tools/embed-web.sh), and the lookup the HTTP router calls for GET / and
 * GET /static/... Needs nothing from server.h, so it compiles on its own.
 */
#ifndef SNND_WEB_H
#define SNND_WEB_H

#include <stddef.h>

/* One embedded file: its name under web/ with a leading slash
 * ("/index.html", "/samples/fashion-mnist-0.png"). */
typedef struct srv_web_asset {
    const char *name;
    const char *content_type;
    const unsigned char *body;
    size_t len;
} srv_web_asset;

extern const srv_web_asset srv_web_assets[];   /* sorted by name */
extern const int srv_web_nassets;

/* The embedded file served at URL path `path`: "/" and "/index.html" give
 * web/index.html, "/static/REL" gives web/REL. A query string or fragment
 * is ignored; "..", "//", backslashes and anything outside those prefixes
 * are not found. Returns 1 and fills the outputs (borrowed, static storage)
 * when found, else 0 and leaves them untouched. */
int srv_web_lookup(const char *path, const char **content_type,
                   const unsigned char **body, size_t *len);

#endif
