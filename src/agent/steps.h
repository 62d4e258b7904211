/* steps.h: the kinds of ferryd's changes and their steps (see steps.c),
 * the table main.c gives the engine (txn.h). */
#pragma once

#include "txn.h"

extern const struct txn_table steps_table;
