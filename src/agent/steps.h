/* steps.h: the kinds of ferryd's changes and their steps (see steps.c),
 * the table main.c gives the engine (txn.h). */
#pragma once

#include "txn.h"

extern const struct txn_table steps_table;

/* FERRY_E_EXISTS, naming them, when packages on the device run on the base
 * name (remove refuses it). */
int steps_refuse_base_in_use(struct agent *ag, sqlite3 *db, const char *name,
                             ferry_error *err) FERRY_WUR;
