/* assets.h - the files of web/assets/, embedded at build time
 * (web/embed.cmake writes the array into the build tree's assets.c). */
#ifndef MTQ_WEB_ASSETS_H
#define MTQ_WEB_ASSETS_H

#include <stddef.h>

typedef struct {
  const char *path; /* relative to web/assets/: "index.html", "app.js" */
  const char *content_type;
  const unsigned char *bytes;
  size_t size;
} mtq_web_asset_t;

/* Sorted by path; ends with an entry of NULL path. */
extern const mtq_web_asset_t mtq_web_assets[];
extern const size_t mtq_web_n_assets;

#endif
