/* fuzz/config_fuzz.c: libFuzzer target for shopd's config file parser
 * (daemon/conf). Any bytes either parse or give an error naming the line;
 * a parse that succeeds leaves every string NUL-terminated within its field
 * and every number inside its documented range. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    conf_t cfg;
    char err[512];
    conf_defaults(&cfg);
    if (conf_parse(&cfg, (const char *) data, size, "fuzz", err, sizeof err) != 0) {
        if (strncmp(err, "fuzz:", 5) != 0)
            abort();
        return 0;
    }
    if (memchr(cfg.endpoint, 0, sizeof cfg.endpoint) == NULL
        || memchr(cfg.database, 0, sizeof cfg.database) == NULL
        || memchr(cfg.allow_list, 0, sizeof cfg.allow_list) == NULL)
        abort();
    if (cfg.max_message_bytes < 1024 || cfg.handshake_ms < 100 || cfg.status_interval_s < 0
        || cfg.heartbeat_ivl_ms < 0)
        abort();
    if (memchr(cfg.mic_device, 0, sizeof cfg.mic_device) == NULL
        || memchr(cfg.mic_wake_word, 0, sizeof cfg.mic_wake_word) == NULL
        || memchr(cfg.mic_session, 0, sizeof cfg.mic_session) == NULL || cfg.mic_gap_ms < 100
        || cfg.mic_wake_timeout_ms < 100 || cfg.mic_max_command_ms < 100)
        abort();
    /* the combined check never crashes either */
    conf_check(&cfg, err, sizeof err);
    return 0;
}
