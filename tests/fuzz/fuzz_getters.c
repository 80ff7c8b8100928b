/* Fuzz target: the typed config getters on any text and any field path.
 * Input: the field path on the first line, the config text after it. Every
 * getter either returns a value or fails with a message on the context; a
 * field's location lies inside the text. */
#include "fuzz_common.h"

static void check_failed(mt_ctx *ctx) {
    fuzz_expect_message(ctx);
    mt_error_clear(ctx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    const char *nl = memchr(text, '\n', size);
    if (!nl || nl - text > 200) return 0;
    char field[256];
    memcpy(field, text, (size_t)(nl - text));
    field[nl - text] = 0;
    if (strlen(field) != (size_t)(nl - text)) return 0; /* a NUL inside the path */
    const char *json = nl + 1;
    size_t jlen = size - (size_t)(json - text);
    mt_ctx *ctx = mt_ctx_new();
    mt_config *c = mt_config_parse(ctx, json, jlen, "fuzz.json");
    if (!c) {
        fuzz_expect_message(ctx);
        mt_ctx_free(ctx);
        return 0;
    }
    int64_t i;
    double d;
    bool b;
    const char *s;
    if (!mt_config_int(c, field, 7, &i)) check_failed(ctx);
    if (!mt_config_float(c, field, 0.5, &d)) check_failed(ctx);
    if (!mt_config_bool(c, field, false, &b)) check_failed(ctx);
    if (!mt_config_str(c, field, "x", &s)) check_failed(ctx);
    if (!mt_config_req_int(c, field, &i)) check_failed(ctx);
    if (!mt_config_pos_int(c, field, 3, &i)) check_failed(ctx);
    (void)mt_config_has(c, field);
    (void)mt_config_json(c, field);
    int line = -1, col = -1;
    mt_config_locate(c, field, &line, &col);
    int lines = 1;
    for (size_t k = 0; k < jlen; k++) lines += json[k] == '\n';
    FUZZ_CHECK(line >= 0 && col >= 0 && line <= lines, "location %d:%d outside %d lines", line, col, lines);
    mt_config *sub = mt_config_sub(c, field);
    if (sub) {
        if (!mt_config_int(sub, "hidden_size", 1, &i)) check_failed(ctx);
        FUZZ_CHECK(mt_config_parent(sub) == c, "a view's parent");
    }
    (void)mt_config_architecture(c);
    if (!mt_config_model_type(c)) check_failed(ctx);
    mt_ctx_free(ctx);
    return 0;
}
