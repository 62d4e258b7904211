/* output.h: how the `ferry` verbs print: JSON, times, small tables, and
 * strings read out of JSON answers. Only presentation: no verb logic. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* j on standard output, indented by two, keys sorted (or in their order with
 * keep_order), then a newline. -1 when it cannot be encoded (out of memory). */
int cli_print_json(json_t *j, bool keep_order);

/* The string member key of o, or dflt when it is missing or not a string. */
const char *cli_json_str(json_t *o, const char *key, const char *dflt);
/* The strings of a JSON array joined with sep into out ("" when empty). */
void cli_json_join(json_t *arr, const char *sep, char *out, size_t size);

/* Times: CLI_TIME_SIZE bytes are enough for each form. */
#define CLI_TIME_SIZE 32
/* A UNIX time as "YYYY-MM-DDTHH:MM:SSZ" (UTC) into out, or none when it
 * cannot be shown. Returns out. */
const char *cli_time_utc(long long t, const char *none, char *out, size_t size);
/* The same for a JSON integer; none when v is not an integer. */
const char *cli_json_time_utc(json_t *v, const char *none, char *out, size_t size);
/* A JSON integer (UNIX time) as "YYYY-MM-DD HH:MM:SS" in local time, or "-". */
void cli_json_time_local(json_t *v, char *out, size_t size);

/* A small table: rows of cells, printed with columns padded to fit. */
#define CLI_TABLE_MAX_COLS 8
struct cli_table {
	char **cells;
	size_t ncols, nrows, cap;
};

/* Add a row of t->ncols cells (NULL cells print empty). */
void cli_table_add(struct cli_table *t, const char *const *row);
/* Print every row, each column as wide as its widest cell, and free t. */
void cli_table_print(struct cli_table *t);
