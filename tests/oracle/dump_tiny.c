/* dump_tiny DIR: write the tiny synthetic config of every registered family
 * (tests/tiny_configs.h) to DIR/<model_type>.config.json, for the graph replay
 * of every family (ctest oracle_replay_families). Fails, naming them, when a
 * registered family has no tiny config. */
#include <stdio.h>
#include <string.h>

#include "metatrace/model.h"
#include "tiny_configs.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: dump_tiny DIR\n");
        return 2;
    }
    int written = 0, missing = 0;
    for (int i = 0; i < mt_arch_count(); i++) {
        const char *mt = mt_arch_at(i)->model_type;
        const tiny_config *t = tiny_for(mt);
        if (!t) {
            fprintf(stderr, "dump_tiny: registered family '%s' has no tiny config in tests/tiny_configs.h\n", mt);
            missing++;
            continue;
        }
        char path[4096];
        if (snprintf(path, sizeof path, "%s/%s.config.json", argv[1], mt) >= (int)sizeof path) {
            fprintf(stderr, "dump_tiny: path too long\n");
            return 1;
        }
        FILE *f = fopen(path, "w");
        if (!f) {
            perror(path);
            return 1;
        }
        int ok = fputs(t->json, f) >= 0 && fputc('\n', f) != EOF;
        if (fclose(f) != 0 || !ok) {
            fprintf(stderr, "dump_tiny: cannot write %s\n", path);
            return 1;
        }
        written++;
    }
    printf("dump_tiny: %d registered families, %d tiny configs written, %d missing\n", mt_arch_count(), written,
           missing);
    return (missing || written == 0) ? 1 : 0;
}
