/* fuzz/ipc_envelope_fuzz.c: libFuzzer target for the request and reply
 * envelope parsers (ipc/proto), the bytes every client can send shopd.
 * Checks the parsers' contract, not just "no crash": a decoded request has
 * a non-empty id and type within their limits and an object body, and
 * re-encoding it gives an envelope that decodes to the same fields. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    proto_request_t req;
    proto_err_t rc = proto_request_decode(data, size, &req, err, sizeof err);
    if (rc == PROTO_OK) {
        if (!req.id[0] || strlen(req.id) > PROTO_ID_MAX || !req.type[0]
            || strlen(req.type) > PROTO_TYPE_MAX || !json_is_object(req.body))
            abort();
        size_t len;
        char *again = proto_request_encode(req.id, req.type, req.session, req.body, &len);
        proto_request_t back;
        if (proto_request_decode(again, len, &back, err, sizeof err) != PROTO_OK
            || strcmp(back.id, req.id) || strcmp(back.type, req.type)
            || strcmp(back.session, req.session) || !json_equal(back.body, req.body))
            abort();
        proto_request_clear(&back);
        free(again);
    } else if (req.body) {
        abort(); /* an error leaves no body behind */
    }
    /* whatever the request, an error reply for it must be well formed */
    size_t len;
    char *reply = proto_reply_encode_error(req.id, req.type, rc == PROTO_OK ? PROTO_E_INTERNAL : rc,
                                           err, &len);
    proto_reply_t r;
    if (proto_reply_decode(reply, len, &r, err, sizeof err) != PROTO_OK || r.ok)
        abort();
    free(reply);
    proto_request_clear(&req);

    proto_reply_t any;
    if (proto_reply_decode(data, size, &any, err, sizeof err) == PROTO_OK) {
        if (any.ok != (any.body != NULL))
            abort();
        proto_reply_clear(&any);
    }
    return 0;
}
