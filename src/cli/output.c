/* output.c: how the `ferry` verbs print (output.h): JSON on standard output,
 * times in UTC or local time, small padded tables, strings read out of JSON
 * answers. It does not decide what a verb prints, only how. */
#include "output.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int cli_print_json(json_t *j, bool keep_order)
{
	char *t = json_dumps(j, JSON_INDENT(2) | JSON_ENCODE_ANY |
	                            (keep_order ? JSON_PRESERVE_ORDER : JSON_SORT_KEYS));
	if (!t)
		return -1;
	printf("%s\n", t);
	free(t);
	return 0;
}

const char *cli_json_str(json_t *o, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : dflt;
}

void cli_json_join(json_t *arr, const char *sep, char *out, size_t size)
{
	json_t *v;
	size_t i;
	out[0] = '\0';
	json_array_foreach(arr, i, v)
	{
		size_t n = strlen(out);
		snprintf(out + n, size - n, "%s%s", i ? sep : "", json_string_value(v));
	}
}

const char *cli_time_utc(long long t, const char *none, char *out, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm) || !strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, size, "%s", none);
	return out;
}

const char *cli_json_time_utc(json_t *v, const char *none, char *out, size_t size)
{
	if (!json_is_integer(v)) {
		snprintf(out, size, "%s", none);
		return out;
	}
	return cli_time_utc((long long)json_integer_value(v), none, out, size);
}

void cli_json_time_local(json_t *v, char *out, size_t size)
{
	if (!json_is_integer(v)) {
		snprintf(out, size, "-");
		return;
	}
	time_t t = (time_t)json_integer_value(v);
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(out, size, "%Y-%m-%d %H:%M:%S", &tm);
}

void cli_table_add(struct cli_table *t, const char *const *row)
{
	if ((t->nrows + 1) * t->ncols > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : t->ncols * 16;
		char **c = realloc(t->cells, cap * sizeof(char *));
		if (!c)
			return;
		t->cells = c;
		t->cap = cap;
	}
	for (size_t i = 0; i < t->ncols; i++)
		t->cells[t->nrows * t->ncols + i] = strdup(row[i] ? row[i] : "");
	t->nrows++;
}

void cli_table_print(struct cli_table *t)
{
	size_t w[CLI_TABLE_MAX_COLS] = {0};
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];
			size_t l = s ? strlen(s) : 0;
			if (l > w[c])
				w[c] = l;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];
			if (c + 1 == t->ncols)
				printf("%s\n", s ? s : "");
			else
				printf("%-*s  ", (int)w[c], s ? s : "");
		}
	}
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
}
