/* test_params.c: the one table of run options (params.h): every row reads
 * back what it writes, names and aliases, the override rules (model bits,
 * options that are never per-request, calibrated thresholds), early exit,
 * and that the table and the model's override bits agree. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snn/model.h"
#include "snn/params.h"
#include "test.h"

/* A value for each row that differs from its default. */
static const char *sample(const char *name)
{
    static const struct {
        const char *name, *value;
    } s[] = {
        {"steps", "17"},
        {"neuron", "relu"},
        {"dt", "0.002"},
        {"synapse", "0.0075"},
        {"scale_firing_rates", "8,conv1=2.5,dense1=0.1"},
        {"v0", "uniform:99"},
        {"normalize", "percentile:99.5"},
        {"thresholds", "conv1=3.25,conv2=0.1"},
        {"readout", "mean"},
        {"maxpool", "avg"},
        {"bias_correction", "on"},
        {"early_exit", "4:0.6:0.1:3"},
        {"patience", "6"},
        {"min_prob", "0.3"},
        {"min_margin", "0.05"},
        {"min_steps", "2"},
    };
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
        if (!strcmp(s[i].name, name)) return s[i].value;
    return NULL;
}

TEST(params_every_row_reads_back_what_it_writes)
{
    snn_error err = {0};
    for (int i = 0; i < snn_params_count(); i++) {
        const snn_param *r = snn_param_at(i);
        const char *v = sample(r->name);
        CHECK_MSG(v, "no sample for row %s (add one)", r->name);
        if (!v) continue;
        snn_run_params a, b;
        snn_run_params_init(&a);
        snn_run_params_init(&b);
        CHECK_MSG(snn_params_set(&a, r->name, v, &err) == SNN_OK, "%s=%s: %s", r->name, v, err.msg);
        char t1[1024], t2[1024];
        r->format(&a, t1, sizeof t1);
        CHECK_MSG(t1[0], "%s formats its non-default value as nothing", r->name);
        CHECK_MSG(snn_params_set(&b, r->name, t1, &err) == SNN_OK, "%s: its own text '%s': %s", r->name, t1,
                  err.msg);
        r->format(&b, t2, sizeof t2);
        CHECK_MSG(!strcmp(t1, t2), "%s: '%s' then '%s'", r->name, t1, t2);
        CHECK(snn_convert_params_equal(&a.convert, &b.convert));
        CHECK(a.steps == b.steps && !memcmp(&a.early_exit, &b.early_exit, sizeof a.early_exit));
        /* bad text is refused with the option's name, and changes nothing */
        snn_run_params c = b;
        CHECK_MSG(snn_params_set(&c, r->name, "*bad*", &err) == SNN_EINVALID, "%s took '*bad*'", r->name);
        CHECK_MSG(strstr(err.msg, r->name) != NULL, "%s: message '%s' does not name it", r->name, err.msg);
        CHECK(snn_convert_params_equal(&b.convert, &c.convert) && b.steps == c.steps);
    }
}

TEST(params_names_dashes_aliases_unknown)
{
    snn_error err = {0};
    snn_run_params p;
    snn_run_params_init(&p);
    CHECK(snn_param_find("scale-firing-rates") == snn_param_find("scale_firing_rates"));
    CHECK(snn_param_find("max_pool") == snn_param_find("maxpool"));
    CHECK(snn_param_find("early-exit") != NULL);
    CHECK(snn_param_find("bias-correction") == snn_param_find("bias_correction"));
    CHECK(snn_params_set(&p, "no_such_option", "1", &err) == SNN_EINVALID && strstr(err.msg, "no_such_option"));
    /* the conversion subset: steps is a run option, not a conversion one */
    snn_convert_params c;
    snn_convert_params_init(&c);
    CHECK(snn_convert_params_set(&c, "steps", "5", &err) == SNN_EINVALID);
    CHECK_OK(snn_convert_params_set(&c, "max-pool", "avg", &err));
    CHECK(c.maxpool == SNN_MAXPOOL_AVG);
    /* names are unique, and help and syntax are there for --help */
    for (int i = 0; i < snn_params_count(); i++) {
        const snn_param *r = snn_param_at(i);
        CHECK(r->syntax && r->syntax[0] && r->help && r->help[0]);
        for (int k = 0; k < i; k++) CHECK(strcmp(r->name, snn_param_at(k)->name));
    }
}

TEST(params_table_covers_every_override_bit)
{
    uint32_t seen = 0;
    for (int i = 0; i < snn_params_count(); i++) {
        const snn_param *r = snn_param_at(i);
        if (!(r->flags & SNN_PARAM_FIELD)) seen |= r->override_bit;
        CHECK_EQ_INT((int)snn_override_bit(r->name), (int)r->override_bit);
    }
    CHECK_EQ_INT((int)seen, (int)SNN_OVR_ALL);
}

TEST(params_override_rules)
{
    snn_error err = {0};
    snn_run_params p;
    snn_run_params_init(&p);
    /* a model that lists only synapse */
    CHECK_OK(snn_params_override(&p, SNN_OVR_SYNAPSE, "synapse", "none", &err));
    CHECK(p.convert.synapse == 0);
    CHECK(snn_params_override(&p, SNN_OVR_SYNAPSE, "steps", "5", &err) == SNN_EINVALID);
    CHECK(strstr(err.msg, "does not allow overriding steps"));
    /* thresholds come from calibration, never from a request */
    CHECK(snn_params_override(&p, SNN_OVR_ALL, "thresholds", "conv1=2", &err) == SNN_EINVALID);
    CHECK(strstr(err.msg, "not a per-request option"));
    /* early exit as one value and as its fields */
    CHECK_OK(snn_params_override(&p, SNN_OVR_ALL, "early_exit", "5:0.5", &err));
    CHECK(p.early_exit.patience == 5 && p.early_exit.min_prob == 0.5f && p.early_exit.min_margin == 0);
    CHECK_OK(snn_params_override(&p, SNN_OVR_ALL, "min_margin", "0.2", &err));
    CHECK(p.early_exit.patience == 5 && p.early_exit.min_margin == 0.2f);
    CHECK_OK(snn_params_override(&p, SNN_OVR_ALL, "early_exit", "off", &err));
    CHECK_EQ_INT(p.early_exit.patience, 0);
    /* calibrated thresholds hold for their normalisation only */
    snn_run_params cal;
    snn_run_params_init(&cal);
    CHECK_OK(snn_params_set(&cal, "normalize", "percentile:99.9", &err));
    CHECK_OK(snn_params_set(&cal, "thresholds", "conv1=3,dense1=2", &err));
    snn_run_params q = cal;
    CHECK(snn_params_override(&q, SNN_OVR_ALL, "normalize", "max", &err) == SNN_EINVALID);
    CHECK(strstr(err.msg, "calibrated for normalize=percentile:99.9"));
    CHECK(snn_convert_params_equal(&q.convert, &cal.convert));   /* unchanged */
    CHECK(snn_params_override(&q, SNN_OVR_ALL, "normalize", "percentile:99", &err) == SNN_EINVALID);
    CHECK_OK(snn_params_override(&q, SNN_OVR_ALL, "normalize", "percentile:99.9", &err));
    CHECK(snn_convert_params_equal(&q.convert, &cal.convert));
    CHECK_OK(snn_params_override(&q, SNN_OVR_ALL, "normalize", "none", &err));
    CHECK(q.convert.normalize == SNN_NORM_NONE && q.convert.nthresholds == 0);
    snn_run_params none;
    snn_run_params_init(&none);
    CHECK(snn_params_override(&none, SNN_OVR_ALL, "normalize", "max", &err) == SNN_EINVALID);
    CHECK(strstr(err.msg, "no thresholds are calibrated"));
}

TEST(params_early_exit_syntax)
{
    snn_error err = {0};
    snn_early_exit e;
    CHECK_OK(snn_early_exit_parse("5", &e, &err));
    CHECK(e.patience == 5 && e.min_prob == 0 && e.min_margin == 0 && e.min_steps == 0);
    CHECK_OK(snn_early_exit_parse("3:0.5:0.1:4", &e, &err));
    CHECK(e.patience == 3 && e.min_prob == 0.5f && e.min_margin == 0.1f && e.min_steps == 4);
    CHECK_OK(snn_early_exit_parse("off", &e, &err));
    CHECK_EQ_INT(e.patience, 0);
    CHECK_OK(snn_early_exit_parse("0", &e, &err));   /* patience 0 is off, as in config.json */
    CHECK_EQ_INT(e.patience, 0);
    const char *bad[] = {"x", "5:2", "5:0.5:-1", "5:0.5:0.1:3:9", "5:0.5:0.1:-2", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_MSG(snn_early_exit_parse(bad[i], &e, &err) == SNN_EINVALID, "'%s' accepted", bad[i]);
}

TEST(params_model_config_uses_the_table)
{
    snn_model_config cfg;
    snn_error err = {0};
    /* early_exit's fields, and conversion keys, through the table's parsers */
#define CFG_HEAD "{\"classes\":[\"a\",\"b\"],\"input\":{\"channels\":1,\"height\":4,\"width\":4},"
    const char *ok = CFG_HEAD "\"conversion\":{\"maxpool\":\"avg\",\"synapse\":null},"
                              "\"early_exit\":{\"patience\":4,\"min_prob\":0.5}}";
    memset(&cfg, 0, sizeof cfg);
    CHECK_MSG(snn_model_config_parse(&cfg, ok, strlen(ok), NULL, &err) == SNN_OK, "%s", err.msg);
    CHECK(cfg.early_exit.patience == 4 && cfg.early_exit.min_prob == 0.5f);
    CHECK(cfg.convert.maxpool == SNN_MAXPOOL_AVG && cfg.convert.synapse == 0);
    snn_model_config_deinit(&cfg);
    /* a key that does nothing is refused, not ignored: bias correction
     * without a stored table, a boolean for on|off */
    const char *bad[][2] = {{CFG_HEAD "\"conversion\":{\"bias_correction\":\"on\"}}", "bias_correction"},
                            {CFG_HEAD "\"conversion\":{\"bias_correction\":true}}", "bias_correction"},
                            {CFG_HEAD "\"early_exit\":{\"patience\":-1}}", "patience"},
                            {CFG_HEAD "\"early_exit\":{\"min_prob\":\"x\"}}", "min_prob"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&cfg, 0, sizeof cfg);
        CHECK_MSG(snn_model_config_parse(&cfg, bad[i][0], strlen(bad[i][0]), NULL, &err) != SNN_OK, "%s accepted",
                  bad[i][0]);
        CHECK_MSG(strstr(err.msg, bad[i][1]), "%s: %s", bad[i][0], err.msg);
        snn_model_config_deinit(&cfg);
    }
}
