/* test_hardening_regress.c: replays the inputs the fuzzers found
 * (tests/regress/<target>/) through the same library calls as the fuzz
 * target, so that `make test` keeps them fixed without clang or libFuzzer
 * (tests/fuzz/replay.c replays them through the targets themselves too).
 * The integration binary links libsnn, which is all these need.
 *
 * Every input says by its name what it must do, so that an input that
 * stops reaching the code it exists for fails instead of passing quietly:
 *   NAME.roundtrip.json   must parse, and its dump must parse back and dump
 *                         to the same text (the round trip runs)
 *   NAME.refused.json     must be refused by the parser
 * An input with neither suffix is an error: classify it. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../test.h"
#include "harness.h"
#include "snn/model.h"

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n > k && !strcmp(s + n - k, suffix);
}

/* Parse, dump, parse the dump, dump again: 0 when both dumps are equal,
 * else -1 with why. graph may be NULL. *parsed says whether the first
 * parse succeeded. */
static int round_trip(const char *text, size_t len, const snn_graph *graph, int *parsed,
                      char *why, size_t whylen)
{
    snn_model_config cfg, back;
    snn_error err;
    int rc = -1;
    memset(&cfg, 0, sizeof cfg);
    memset(&back, 0, sizeof back);
    *parsed = snn_model_config_parse(&cfg, text, len, graph, &err) == SNN_OK;
    if (!*parsed) {
        snprintf(why, whylen, "refused: %s", err.msg);
        snn_model_config_deinit(&cfg);
        return -1;
    }
    char *dump = snn_model_config_dump(&cfg), *dump2 = NULL;
    if (!dump) snprintf(why, whylen, "no dump");
    else if (snn_model_config_parse(&back, dump, strlen(dump), graph, &err) != SNN_OK)
        snprintf(why, whylen, "the dump does not parse back: %s", err.msg);
    else if (!(dump2 = snn_model_config_dump(&back)))
        snprintf(why, whylen, "no dump of the parsed dump");
    else if (strcmp(dump, dump2))
        snprintf(why, whylen, "the dump changes when parsed back:\n%.300s\n%.300s", dump, dump2);
    else
        rc = 0;
    free(dump);
    free(dump2);
    snn_model_config_deinit(&back);
    snn_model_config_deinit(&cfg);
    return rc;
}

/* fuzz_model_config: what snn_model_config_dump writes must parse back
 * (finding F1 / H5: without a graph, unset input dimensions were dumped
 * as 0). Fixed: configs without every input dimension are refused
 * (dump-width-0.refused.json, the finding's input), and complete ones
 * round-trip, without a graph and against tests/data/tiny's graph when
 * they fit it. */
TEST(hr_model_config_dump_round_trip)
{
    char dir[1200], path[1600], first_bad[900] = "";
    snprintf(dir, sizeof dir, "%s/../../regress/fuzz_model_config", test_path("images"));
    DIR *d = opendir(dir);
    CHECK_MSG(d, "tests/regress/fuzz_model_config missing (%s)", dir);
    snn_error err;
    snn_model *tiny = snn_model_load(test_path("tiny"), &err);
    int n = 0, bad = 0, reached = 0, want_reached = 0, refused = 0, with_graph = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t len;
        char *text = it_read_file(path, &len), why[700] = "";
        if (!text) continue;
        n++;
        int parsed = 0, ok;
        if (ends_with(e->d_name, ".roundtrip.json")) {
            want_reached++;
            ok = round_trip(text, len, NULL, &parsed, why, sizeof why) == 0;
            reached += parsed;
            if (ok && tiny) {   /* against a graph too, when the config fits it */
                char gwhy[700];
                int gparsed = 0;
                if (round_trip(text, len, tiny->graph, &gparsed, gwhy, sizeof gwhy) != 0 && gparsed) {
                    ok = 0;
                    snprintf(why, sizeof why, "with the tiny graph: %s", gwhy);
                }
                with_graph += gparsed;
            }
        } else if (ends_with(e->d_name, ".refused.json")) {
            snn_model_config cfg;
            memset(&cfg, 0, sizeof cfg);
            ok = snn_model_config_parse(&cfg, text, len, NULL, &err) != SNN_OK;
            if (!ok) snprintf(why, sizeof why, "parsed, but must be refused");
            refused += ok;
            snn_model_config_deinit(&cfg);
        } else {
            ok = 0;
            snprintf(why, sizeof why, "name it NAME.roundtrip.json or NAME.refused.json");
        }
        if (!ok && !bad++) snprintf(first_bad, sizeof first_bad, "%s: %s", e->d_name, why);
        free(text);
    }
    closedir(d);
    snn_model_free(tiny);
    CHECK_MSG(bad == 0, "%d of %d inputs wrong; first: %s", bad, n, first_bad);
    CHECK_MSG(want_reached > 0 && reached == want_reached, "%d of %d round-trip inputs reached the round trip",
              reached, want_reached);
    CHECK_MSG(refused > 0, "no refused input (the finding's own input) in %s", dir);
    CHECK_MSG(with_graph > 0, "no round-trip input fits tests/data/tiny's graph");
}
