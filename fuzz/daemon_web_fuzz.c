/* fuzz/daemon_web_fuzz.c: libFuzzer target for what a browser can send the
 * kiosk page bridge (daemon/web.h): the WebSocket messages of a page, the
 * session id and photo path of its URLs, and the listen setting. Checks the
 * contracts: a parsed message has an id in 0..1e9, a type of 1..32 bytes
 * that is not audio or photo, and an object body; an accepted session is
 * 1..64 bytes of the allowed characters; a photo path that maps to a file
 * has no "..", is relative and ends in an image extension. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "daemon/web.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256], type[40];
    long long id = -1;
    json_t *body = NULL;
    if (web_page_message((const char *) data, size, &id, type, sizeof type, &body, err,
                         sizeof err) == 0) {
        if (id < 0 || id > 1000000000 || !type[0] || strlen(type) > 32
            || !strcmp(type, "audio") || !strcmp(type, "photo") || !json_is_object(body))
            abort();
        json_decref(body);
    } else if (body || !err[0]) {
        abort();
    }
    /* the same bytes as a URL's session id, photo path and listen setting */
    char s[300];
    size_t n = size < sizeof s - 1 ? size : sizeof s - 1;
    memcpy(s, data, n);
    s[n] = 0;
    if (web_session_valid(s)) {
        size_t l = strlen(s);
        if (l == 0 || l > 64 || strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                          "0123456789._:-") != l)
            abort();
    }
    char path[1024];
    const char *f = web_photo_file(s, path, sizeof path);
    if (f && (strstr(s, "..") || s[0] == '/' || !strrchr(s, '.')))
        abort();
    char addr[128];
    int port = 0;
    if (web_parse_listen(s, addr, sizeof addr, &port, err, sizeof err) == 0
        && (port < 1 || port > 65535 || !addr[0]))
        abort();
    return 0;
}
