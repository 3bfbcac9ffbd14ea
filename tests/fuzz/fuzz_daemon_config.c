/* fuzz_daemon_config.c: the daemon's JSON config file (config.c), through
 * srv_config_init("--config FILE") as snnd reads it, then the effective
 * config dump and a SIGHUP-style reload of the same file. The file lives
 * in /dev/shm (or /tmp). config.c prints its diagnostics on stderr: the
 * FILE* is pointed at /dev/null so that only sanitizer reports (written to
 * fd 2 directly) and libFuzzer's own output remain. */
#include <unistd.h>

#include "fuzz_srv.h"

static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    FILE *null = fopen("/dev/null", "w");
    if (null) stderr = null;
    snprintf(path, sizeof path, "%s/snnd-fuzz-config-%d.json",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (int)getpid());
    srv_log_set_level(SRV_LOG_ERROR);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);
    char *argv[] = {"snnd", "--config", path, NULL};
    if (srv_config_init(3, argv) == 0) {
        srv_log_set_level(SRV_LOG_ERROR);
        json_t *j = srv_config_json();
        char *s = json_dumps(j, JSON_COMPACT);
        free(s);
        json_decref(j);
        srv_config_reload();
        srv_config_deinit();
    }
    unlink(path);
    return 0;
}
