/* params.h: the options of a spiking run, declared ONCE.
 *
 * DESIGN: every option a user sets for a run (the conversion parameters,
 * steps, early exit) is a row of one table in src/params/params.c: its name, the
 * syntax of its value, a help line, the override bit a model must list in
 * "overridable" before a request may change it, and the functions that
 * parse its text into an snn_run_params and format it back. snnctl's flags
 * (--name), config.json keys, the daemon's query, JSON and v2 parameters,
 * the daemon's cache of converted nets and every rendering of "the
 * conversion" are loops over that table, so one name means one value, with
 * the same bounds and the same error text, everywhere (Redis's config table).
 * Names are snake_case; '-' is accepted for '_' wherever a name is read.
 */
#ifndef SNN_PARAMS_H
#define SNN_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "snn/convert.h"
#include "snn/error.h"
#include "snn/model.h"

/* Everything a run is configured by (not the API-level output options). */
typedef struct snn_run_params {
    snn_convert_params convert;
    int steps;                      /* timesteps to simulate */
    snn_early_exit early_exit;      /* patience 0 = off */
} snn_run_params;

enum {
    SNN_PARAM_CONVERSION = 1,       /* changes the converted network (part of its identity) */
    SNN_PARAM_FIELD = 2             /* a field of another option (early_exit's patience...):
                                     * accepted, not listed on its own */
};

typedef struct snn_param {
    const char *name;               /* "scale_firing_rates" */
    const char *syntax;             /* "X[,LAYER=X...]" */
    const char *help;
    uint32_t override_bit;          /* SNN_OVR_*; 0 = never a per-request override */
    unsigned flags;                 /* SNN_PARAM_* */
    snn_err (*parse)(snn_run_params *p, const char *value, snn_error *err);
    /* The value as text that parse() reads back; "" when the option is at
     * its default and formats omit it (thresholds none, maxpool gated). */
    void (*format)(const snn_run_params *p, char *buf, size_t len);
} snn_param;

/* The table: rows in a fixed order (the order of formats and help). */
int snn_params_count(void);
const snn_param *snn_param_at(int i);
/* The row of a name ('-' or '_'; aliases such as max_pool), NULL if none. */
const snn_param *snn_param_find(const char *name);

/* nengo_dl defaults (snn_convert_params_init), 30 steps, no early exit. */
void snn_run_params_init(snn_run_params *p);
/* A model's configured run: its conversion, steps and early exit. */
void snn_run_params_from_model(snn_run_params *p, const snn_model_config *cfg);

/* Set one option from its text. SNN_EINVALID naming the option on bad input
 * or an unknown name. */
snn_err snn_params_set(snn_run_params *p, const char *name, const char *value,
                       snn_error *err);
/* The same for a per-request override of a model's run: the model must
 * allow it (its bit in `allowed`), and it must be able to apply: a
 * normalize other than the one the stored thresholds were calibrated for
 * is refused (only none drops them), never silently run with them. */
snn_err snn_params_override(snn_run_params *p, uint32_t allowed, const char *name,
                            const char *value, snn_error *err);

/* Early exit from "K[:P[:M[:S]]]" (patience, min_prob, min_margin,
 * min_steps) or "off"; the parser of every early-exit option. */
snn_err snn_early_exit_parse(const char *s, snn_early_exit *ee, snn_error *err);

/* The override bit of an option name, 0 when it has none. */
uint32_t snn_override_bit(const char *name);

#endif
