/* cjson.c: canonical JSON writer and bounded parser (see cjson.h). The writer
 * recurses, bounded by the depth the parser allowed (or by whoever built the
 * value in memory); it does not pretty-print. */
#include "tuf/cjson.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/str.h"

const struct tuf_json_limits tuf_json_limits_default = {
    .max_bytes = TUF_JSON_MAX_BYTES_DEFAULT,
    .max_depth = TUF_JSON_MAX_DEPTH_DEFAULT,
    .max_values = TUF_JSON_MAX_VALUES_DEFAULT,
};

/* Deepest nesting of [ and { outside strings, stopping early past max. */
static unsigned raw_depth(const unsigned char *p, size_t len, unsigned max)
{
	unsigned depth = 0, deepest = 0;
	bool in_string = false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = p[i];
		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = false;
			continue;
		}
		if (c == '"')
			in_string = true;
		else if (c == '[' || c == '{') {
			if (++depth > deepest) {
				deepest = depth;
				if (deepest > max)
					return deepest;
			}
		} else if ((c == ']' || c == '}') && depth > 0)
			depth--;
	}
	return deepest;
}

static int count_values(json_t *v, size_t max, size_t *count)
{
	if (++*count > max)
		return FERRY_E_LIMIT;
	if (json_is_object(v)) {
		const char *k;
		json_t *child;
		json_object_foreach(v, k, child) if (count_values(child, max, count) <
		                                     0) return FERRY_E_LIMIT;
	} else if (json_is_array(v)) {
		size_t i;
		json_t *child;
		json_array_foreach(v, i, child) if (count_values(child, max, count) <
		                                    0) return FERRY_E_LIMIT;
	}
	return 0;
}

int tuf_json_parse(const void *data, size_t len, const struct tuf_json_limits *lim, json_t **out,
                   ferry_error *err)
{
	if (!lim)
		lim = &tuf_json_limits_default;
	if (len > lim->max_bytes)
		return ferry_error_set(err, FERRY_E_LIMIT,
		                       "JSON of %zu bytes, more than the limit of %zu", len,
		                       lim->max_bytes);
	unsigned depth = raw_depth(data, len, lim->max_depth);
	if (depth > lim->max_depth)
		return ferry_error_set(err, FERRY_E_LIMIT, "JSON nested deeper than %u levels",
		                       lim->max_depth);
	json_error_t jerr;
	json_t *v = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!v)
		return ferry_error_set(err, FERRY_E_INVALID, "JSON %d:%d: %s", jerr.line,
		                       jerr.column, jerr.text);
	size_t count = 0;
	if (count_values(v, lim->max_values, &count) < 0) {
		json_decref(v);
		return ferry_error_set(err, FERRY_E_LIMIT, "JSON with more than %zu values",
		                       lim->max_values);
	}
	*out = v;
	return 0;
}

static int append_string(struct buf *out, const char *s, size_t len)
{
	int rc = buf_append(out, "\"", 1);
	size_t start = 0;
	for (size_t i = 0; rc == 0 && i < len; i++) {
		if (s[i] == '"' || s[i] == '\\') {
			rc = buf_append(out, s + start, i - start);
			if (rc == 0)
				rc = buf_append(out, "\\", 1);
			start = i;
		}
	}
	if (rc == 0)
		rc = buf_append(out, s + start, len - start);
	if (rc == 0)
		rc = buf_append(out, "\"", 1);
	return rc;
}

struct key_ref {
	const char *key;
	size_t len;
	json_t *value;
};

static int key_cmp(const void *a, const void *b)
{
	const struct key_ref *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->key, y->key, n);
	if (c != 0)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

static int encode(const json_t *v, struct buf *out, ferry_error *err, unsigned depth)
{
	int rc;
	if (depth > 1000)
		return ferry_error_set(err, FERRY_E_LIMIT, "canonical JSON: nesting too deep");
	switch (json_typeof(v)) {
	case JSON_NULL:
		return buf_append(out, "null", 4);
	case JSON_TRUE:
		return buf_append(out, "true", 4);
	case JSON_FALSE:
		return buf_append(out, "false", 5);
	case JSON_INTEGER:
		return buf_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	case JSON_REAL:
		return ferry_error_set(err, FERRY_E_INVALID,
		                       "canonical JSON has no real numbers (%g)",
		                       json_real_value(v));
	case JSON_STRING:
		return append_string(out, json_string_value(v), json_string_length(v));
	case JSON_ARRAY: {
		rc = buf_append(out, "[", 1);
		for (size_t i = 0; rc == 0 && i < json_array_size(v); i++) {
			if (i > 0)
				rc = buf_append(out, ",", 1);
			if (rc == 0)
				rc = encode(json_array_get(v, i), out, err, depth + 1);
			if (rc < 0)
				return ferry_error_prefix(err, rc, "[%zu]", i);
		}
		return rc == 0 ? buf_append(out, "]", 1) : rc;
	}
	case JSON_OBJECT: {
		size_t n = json_object_size(v);
		struct key_ref *keys = n ? calloc(n, sizeof(*keys)) : NULL;
		if (n && !keys)
			return FERRY_E_NOMEM;
		size_t i = 0;
		const char *k;
		json_t *child;
		void *iter = json_object_iter((json_t *)v);
		while (iter && i < n) {
			k = json_object_iter_key(iter);
			child = json_object_iter_value(iter);
			keys[i].key = k;
			keys[i].len = json_object_iter_key_len(iter);
			keys[i].value = child;
			i++;
			iter = json_object_iter_next((json_t *)v, iter);
		}
		if (i > 1)
			qsort(keys, i, sizeof(*keys), key_cmp);
		rc = buf_append(out, "{", 1);
		for (size_t j = 0; rc == 0 && j < i; j++) {
			if (j > 0)
				rc = buf_append(out, ",", 1);
			if (rc == 0)
				rc = append_string(out, keys[j].key, keys[j].len);
			if (rc == 0)
				rc = buf_append(out, ":", 1);
			if (rc == 0) {
				rc = encode(keys[j].value, out, err, depth + 1);
				if (rc < 0)
					rc = ferry_error_prefix(err, rc, "%.*s", (int)keys[j].len,
					                        keys[j].key);
			}
		}
		free(keys);
		return rc == 0 ? buf_append(out, "}", 1) : rc;
	}
	}
	return ferry_error_set(err, FERRY_E_INTERNAL, "canonical JSON: unknown value type");
}

int tuf_cjson_encode(const json_t *v, struct buf *out, ferry_error *err)
{
	if (!v)
		return ferry_error_set(err, FERRY_E_INTERNAL, "canonical JSON: no value");
	size_t mark = out->len;
	int rc = encode(v, out, err, 0);
	if (rc < 0) {
		out->len = mark;
		if (out->data)
			out->data[mark] = '\0';
		if (rc == FERRY_E_LIMIT || rc == FERRY_E_NOMEM)
			return ferry_error_prefix(err, rc, "canonical JSON");
		return rc;
	}
	return 0;
}

int tuf_cjson_dump(const json_t *v, char **out, size_t *len, ferry_error *err)
{
	_cleanup_buf_ struct buf b = BUF_INIT(1u << 30);
	int rc = tuf_cjson_encode(v, &b, err);
	if (rc < 0)
		return rc;
	if (!b.data && buf_reserve(&b, 0) < 0)
		return ferry_error_set(err, FERRY_E_NOMEM, "canonical JSON: out of memory");
	*out = buf_steal(&b, len);
	return *out ? 0 : ferry_error_set(err, FERRY_E_NOMEM, "canonical JSON: out of memory");
}
