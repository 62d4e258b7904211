/* delta_read.c: the parser of delta files (docs/formats/delta.md): the
 * header, and the four xz streams read together to rebuild B's tree
 * through a sink, with A's files read through a base.
 *
 * A delta is untrusted until its applier has checked the result, so every
 * length is bounded before it is used: decoder memory at most
 * DELTA_MEMLIMIT a stream, paths and targets at most 4095 bytes, at most the
 * header's entry count and file bytes, "add" ranges inside the A file,
 * seeks that stay inside it, and each file exactly its declared size.
 * Memory is a few fixed buffers and the xz decoders, whose memory is capped
 * (DELTA_MEMLIMIT each), whatever the delta says.
 *
 * It does not touch the file system (the sink does) nor check hashes (the
 * applier does). */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <lzma.h>
#include <openssl/sha.h>

#include "base/cleanup.h"
#include "pkg/delta_int.h"
#include "pkg/image.h"

#define CHUNK (64u * 1024)

static uint64_t get_le(const unsigned char *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void put_le(unsigned char *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

void delta_header_encode(const struct delta_header *h, unsigned char *buf)
{
	memset(buf, 0, DELTA_HEADER_SIZE);
	memcpy(buf, DELTA_MAGIC, 8);
	put_le(buf + 8, h->version, 4);
	buf[16] = h->compression;
	put_le(buf + 20, h->mtime, 4);
	put_le(buf + 24, h->a_size, 8);
	memcpy(buf + 32, h->a_sha256, 32);
	put_le(buf + 64, h->b_size, 8);
	memcpy(buf + 72, h->b_sha256, 32);
	put_le(buf + 104, h->b_entries, 4);
	put_le(buf + 112, h->b_bytes, 8);
	for (unsigned i = 0; i < DELTA_NSTREAMS; i++)
		put_le(buf + 120 + 8 * i, h->len[i], 8);
}

int delta_header_parse(const unsigned char *buf, uint64_t file_size, struct delta_header *h,
                       ferry_error *err)
{
	static const unsigned char zero[8];
	if (file_size < DELTA_HEADER_SIZE || memcmp(buf, DELTA_MAGIC, 8) != 0)
		return ferry_error_set(err, FERRY_E_CORRUPT, "not a ferry delta");
	h->version = (uint32_t)get_le(buf + 8, 4);
	if (h->version < DELTA_VERSION_MIN || h->version > DELTA_VERSION)
		return ferry_error_set(
		    err, FERRY_E_UNSUPPORTED,
		    "delta format version %u: this ferry reads versions %u to %u", h->version,
		    DELTA_VERSION_MIN, DELTA_VERSION);
	if (memcmp(buf + 12, zero, 4) != 0 || memcmp(buf + 17, zero, 3) != 0 ||
	    memcmp(buf + 108, zero, 4) != 0)
		return ferry_error_set(err, FERRY_E_CORRUPT, "delta header: reserved bytes not 0");
	h->compression = buf[16];
	if (h->compression > IMAGE_GZIP)
		return ferry_error_set(err, FERRY_E_CORRUPT, "delta header: unknown compression %u",
		                       h->compression);
	h->mtime = (uint32_t)get_le(buf + 20, 4);
	h->a_size = get_le(buf + 24, 8);
	memcpy(h->a_sha256, buf + 32, 32);
	h->b_size = get_le(buf + 64, 8);
	memcpy(h->b_sha256, buf + 72, 32);
	h->b_entries = (uint32_t)get_le(buf + 104, 4);
	h->b_bytes = get_le(buf + 112, 8);
	if (h->b_entries > IMAGE_MAX_FILES || h->b_bytes > IMAGE_MAX_BYTES)
		return ferry_error_set(
		    err, FERRY_E_LIMIT,
		    "delta header: %u entries, %llu bytes: above the image limits", h->b_entries,
		    (unsigned long long)h->b_bytes);
	/* B's image holds its files at most as large as they are, plus
	 * metadata: a declared size beyond that bound is a lie. */
	uint64_t b_max =
	    h->b_bytes + (uint64_t)(h->b_entries + 1) * (2 * IMAGE_MAX_PATH + 256) + (1u << 20);
	if (h->b_size < 4096 || h->b_size > b_max || h->b_size % 4096 != 0)
		return ferry_error_set(err, FERRY_E_LIMIT,
		                       "delta header: image size %llu out of bounds",
		                       (unsigned long long)h->b_size);
	uint64_t total = DELTA_HEADER_SIZE;
	for (unsigned i = 0; i < DELTA_NSTREAMS; i++) {
		h->len[i] = get_le(buf + 120 + 8 * i, 8);
		if (h->len[i] > file_size || total + h->len[i] > file_size)
			return ferry_error_set(err, FERRY_E_CORRUPT,
			                       "delta header: streams beyond the end of the file");
		total += h->len[i];
	}
	if (total != file_size)
		return ferry_error_set(err, FERRY_E_CORRUPT,
		                       "delta: %llu bytes after the last stream",
		                       (unsigned long long)(file_size - total));
	return 0;
}

static uint32_t get_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

/* Version 2 adds words so that a pointer or offset that moved by a constant
 * gives the same diff word wherever it sits, carries included: in an
 * executable whose code or data shifted, long runs of relocated addresses
 * then make one repeated word, which xz compresses far better than the
 * byte-wise differences whose carries vary. Words sit where the new file's
 * aligned pointers and offsets do: at its offsets that are multiples of 4. */
void delta_add(uint32_t version, uint64_t pos, unsigned char *out, const unsigned char *old,
               const unsigned char *diff, size_t n)
{
	size_t i = 0;
	if (version >= 2) {
		size_t head = (size_t)((4 - (pos & 3)) & 3);
		for (; i < head && i < n; i++)
			out[i] = (unsigned char)(old[i] + diff[i]);
		for (; n - i >= 4; i += 4)
			put_le32(out + i, get_le32(old + i) + get_le32(diff + i));
	}
	for (; i < n; i++)
		out[i] = (unsigned char)(old[i] + diff[i]);
}

void delta_sub(uint32_t version, uint64_t pos, unsigned char *diff, const unsigned char *nw,
               const unsigned char *old, size_t n)
{
	size_t i = 0;
	if (version >= 2) {
		size_t head = (size_t)((4 - (pos & 3)) & 3);
		for (; i < head && i < n; i++)
			diff[i] = (unsigned char)(nw[i] - old[i]);
		for (; n - i >= 4; i += 4)
			put_le32(diff + i, get_le32(nw + i) - get_le32(old + i));
	}
	for (; i < n; i++)
		diff[i] = (unsigned char)(nw[i] - old[i]);
}

size_t delta_varint_put(uint64_t v, unsigned char *out)
{
	size_t n = 0;
	while (v >= 0x80) {
		out[n++] = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	out[n++] = (unsigned char)v;
	return n;
}

/* One xz stream over a region of the delta file. */
struct dstream {
	const char *what;
	int fd;
	uint64_t off, end;
	lzma_stream z;
	bool ended;
	unsigned char inbuf[CHUNK];
	unsigned char outbuf[CHUNK];
	size_t opos, olen;
};

static int ds_init(struct dstream *s, const char *what, int fd, uint64_t off, uint64_t len,
                   ferry_error *err)
{
	s->what = what;
	s->fd = fd;
	s->off = off;
	s->end = off + len;
	s->opos = s->olen = 0;
	s->z = (lzma_stream)LZMA_STREAM_INIT;
	if (lzma_stream_decoder(&s->z, DELTA_MEMLIMIT, 0) != LZMA_OK)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	return 0;
}

static int ds_code(struct dstream *s, ferry_error *err)
{
	if (s->z.avail_in == 0 && s->off < s->end) {
		size_t want = s->end - s->off < CHUNK ? (size_t)(s->end - s->off) : CHUNK;
		ssize_t r;
		do
			r = pread(s->fd, s->inbuf, want, (off_t)s->off);
		while (r < 0 && errno == EINTR);
		if (r <= 0)
			return ferry_error_errno(err, r < 0 ? FERRY_E_IO : FERRY_E_CORRUPT,
			                         r < 0 ? errno : EIO, "delta %s stream: read",
			                         s->what);
		s->off += (uint64_t)r;
		s->z.next_in = s->inbuf;
		s->z.avail_in = (size_t)r;
	}
	s->z.next_out = s->outbuf;
	s->z.avail_out = sizeof(s->outbuf);
	lzma_ret r =
	    lzma_code(&s->z, s->z.avail_in == 0 && s->off == s->end ? LZMA_FINISH : LZMA_RUN);
	s->opos = 0;
	s->olen = sizeof(s->outbuf) - s->z.avail_out;
	if (r == LZMA_STREAM_END) {
		s->ended = true;
		return 0;
	}
	if (r == LZMA_MEMLIMIT_ERROR)
		return ferry_error_set(err, FERRY_E_LIMIT,
		                       "delta %s stream: needs more than %u MiB", s->what,
		                       (unsigned)(DELTA_MEMLIMIT >> 20));
	if (r == LZMA_DATA_ERROR || r == LZMA_FORMAT_ERROR)
		return ferry_error_set(err, FERRY_E_CORRUPT, "delta %s stream: damaged", s->what);
	if (r == LZMA_BUF_ERROR)
		return ferry_error_set(err, FERRY_E_CORRUPT, "delta %s stream: truncated", s->what);
	if (r != LZMA_OK)
		return ferry_error_set(err, FERRY_E_CORRUPT, "delta %s stream: not valid xz (%d)",
		                       s->what, (int)r);
	return 0;
}

static int ds_fill(struct dstream *s, ferry_error *err)
{
	while (s->opos == s->olen) {
		if (s->ended)
			return ferry_error_set(err, FERRY_E_CORRUPT, "delta %s stream: truncated",
			                       s->what);
		int rc = ds_code(s, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int ds_read(struct dstream *s, void *buf, size_t n, ferry_error *err)
{
	unsigned char *p = buf;
	while (n > 0) {
		int rc = ds_fill(s, err);
		if (rc < 0)
			return rc;
		size_t k = s->olen - s->opos < n ? s->olen - s->opos : n;
		memcpy(p, s->outbuf + s->opos, k);
		s->opos += k;
		p += k;
		n -= k;
	}
	return 0;
}

static int ds_varint(struct dstream *s, uint64_t max, const char *field, uint64_t *v,
                     ferry_error *err)
{
	uint64_t x = 0;
	for (unsigned shift = 0;; shift += 7) {
		unsigned char b;
		int rc = ds_read(s, &b, 1, err);
		if (rc < 0)
			return rc;
		if (shift == 63 && b > 1)
			return ferry_error_set(err, FERRY_E_CORRUPT, "delta: %s: varint too long",
			                       field);
		x |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			break;
		if (shift == 63)
			return ferry_error_set(err, FERRY_E_CORRUPT, "delta: %s: varint too long",
			                       field);
	}
	if (x > max)
		return ferry_error_set(err, FERRY_E_LIMIT, "delta: %s %llu above %llu", field,
		                       (unsigned long long)x, (unsigned long long)max);
	*v = x;
	return 0;
}

/* Consumed exactly: no output left, the xz stream ends, no input after it. */
static int ds_finish(struct dstream *s, ferry_error *err)
{
	while (s->opos == s->olen && !s->ended) {
		int rc = ds_code(s, err);
		if (rc < 0)
			return rc;
	}
	if (s->opos != s->olen || s->z.avail_in != 0 || s->off != s->end)
		return ferry_error_set(err, FERRY_E_CORRUPT, "delta %s stream: data after the end",
		                       s->what);
	return 0;
}

static int check_path(const char *p, size_t len, ferry_error *err)
{
	size_t start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && p[i] == '\0')
			return ferry_error_set(err, FERRY_E_CORRUPT, "delta: path with a NUL byte");
		if (i < len && p[i] != '/')
			continue;
		size_t c = i - start;
		if (c == 0 || c > IMAGE_MAX_NAME || (c == 1 && p[start] == '.') ||
		    (c == 2 && p[start] == '.' && p[start + 1] == '.'))
			return ferry_error_set(err, FERRY_E_UNSAFE,
			                       "delta: path \"%.*s\" not allowed",
			                       (int)(len > 200 ? 200 : len), p);
		start = i + 1;
	}
	return 0;
}

struct reader {
	const char *name;
	const struct delta_header *h;
	const struct delta_base *base;
	const struct delta_sink *sink;
	struct dstream s[DELTA_IMAGE];
	unsigned char old[CHUNK];
	unsigned char buf[CHUNK];
	char path[IMAGE_MAX_PATH + 1];
	char target[IMAGE_MAX_PATH + 1];
	uint64_t bytes; /* of B's files so far */
};

/* len bytes of the extra stream to the sink */
static int put_extra(struct reader *r, uint64_t len, ferry_error *err)
{
	while (len > 0) {
		size_t k = len < CHUNK ? (size_t)len : CHUNK;
		int rc = ds_read(&r->s[DELTA_EXTRA], r->buf, k, err);
		if (rc == 0)
			rc = r->sink->write(r->sink->ctx, r->buf, k, err);
		if (rc < 0)
			return rc;
		len -= k;
	}
	return 0;
}

static int put_bsdiff(struct reader *r, size_t idx, uint64_t size, ferry_error *err)
{
	uint64_t oldsize = r->base->size(r->base->ctx, idx);
	uint64_t oldpos = 0, done = 0;
	int rc;

	while (done < size) {
		uint64_t add, copy, zz;
		rc = ds_varint(&r->s[DELTA_CTRL], size - done, "add length", &add, err);
		if (rc == 0 && add > oldsize - oldpos)
			rc = ferry_error_set(err, FERRY_E_CORRUPT,
			                     "%s: delta: add past the old file", r->path);
		if (rc == 0)
			rc = ds_varint(&r->s[DELTA_CTRL], size - done - add, "copy length", &copy,
			               err);
		if (rc == 0)
			rc = ds_varint(&r->s[DELTA_CTRL], UINT64_MAX, "seek", &zz, err);
		if (rc < 0)
			return rc;
		for (uint64_t left = add; left > 0;) {
			uint64_t pos = done + add - left;
			size_t room = CHUNK - (size_t)(pos & 3);
			size_t k = left < room ? (size_t)left : room;
			rc = r->base->read(r->base->ctx, idx, oldpos, r->old, k, err);
			if (rc == 0)
				rc = ds_read(&r->s[DELTA_DIFF], r->buf, k, err);
			if (rc < 0)
				return rc;
			/* pieces end at new-file offsets that are multiples of 4
			 * (but the run's last), so no word is split */
			delta_add(r->h->version, pos, r->buf, r->old, r->buf, k);
			rc = r->sink->write(r->sink->ctx, r->buf, k, err);
			if (rc < 0)
				return rc;
			oldpos += k;
			left -= k;
		}
		rc = put_extra(r, copy, err);
		if (rc < 0)
			return rc;
		done += add + copy;
		int64_t seek = delta_unzigzag(zz);
		if ((seek < 0 && (uint64_t)(-(seek + 1)) + 1 > oldpos) ||
		    (seek > 0 && (uint64_t)seek > oldsize - oldpos))
			return ferry_error_set(err, FERRY_E_CORRUPT,
			                       "%s: delta: seek outside the old file", r->path);
		oldpos = (uint64_t)((int64_t)oldpos + seek);
	}
	return 0;
}

static int read_string(struct dstream *s, const char *what, char *out, ferry_error *err)
{
	uint64_t len;
	int rc = ds_varint(s, IMAGE_MAX_PATH, what, &len, err);
	if (rc == 0 && len == 0)
		rc = ferry_error_set(err, FERRY_E_CORRUPT, "delta: empty %s", what);
	if (rc == 0)
		rc = ds_read(s, out, (size_t)len, err);
	if (rc < 0)
		return rc;
	out[len] = '\0';
	if (strlen(out) != len)
		return ferry_error_set(err, FERRY_E_CORRUPT, "delta: %s with a NUL byte", what);
	return (int)len;
}

static int read_file(struct reader *r, ferry_error *err)
{
	struct dstream *e = &r->s[DELTA_ENTRIES];
	unsigned char flags, source;
	uint64_t size, idx = 0;
	int rc = ds_read(e, &flags, 1, err);
	if (rc == 0 && flags > 1)
		rc = ferry_error_set(err, FERRY_E_CORRUPT, "%s: delta: unknown file flags %u",
		                     r->path, flags);
	if (rc == 0)
		rc = ds_varint(e, r->h->b_bytes - r->bytes, "file size", &size, err);
	if (rc == 0)
		rc = ds_read(e, &source, 1, err);
	if (rc == 0 && source > DELTA_BSDIFF)
		rc = ferry_error_set(err, FERRY_E_CORRUPT, "%s: delta: unknown source %u", r->path,
		                     source);
	if (rc == 0 && source != DELTA_LITERAL && r->base->nfiles == 0)
		rc = ferry_error_set(err, FERRY_E_CORRUPT, "%s: delta: no file in the old image",
		                     r->path);
	if (rc == 0 && source != DELTA_LITERAL)
		rc = ds_varint(e, r->base->nfiles - 1, "old file index", &idx, err);
	if (rc < 0)
		return rc;
	r->bytes += size;
	bool exec = flags & 1;
	if (source == DELTA_COPY) {
		if (r->base->size(r->base->ctx, (size_t)idx) != size)
			return ferry_error_set(err, FERRY_E_CORRUPT,
			                       "%s: delta: copied file has another size", r->path);
		return r->sink->copy(r->sink->ctx, r->path, exec, (size_t)idx, err);
	}
	rc = r->sink->begin(r->sink->ctx, r->path, exec, size, err);
	if (rc < 0)
		return rc;
	if (source == DELTA_LITERAL)
		rc = put_extra(r, size, err);
	else
		rc = put_bsdiff(r, (size_t)idx, size, err);
	if (rc < 0)
		return rc;
	return r->sink->end(r->sink->ctx, err);
}

static int read_entries(struct reader *r, ferry_error *err)
{
	struct dstream *e = &r->s[DELTA_ENTRIES];
	for (uint32_t n = 0; n < r->h->b_entries; n++) {
		unsigned char type;
		int rc = ds_read(e, &type, 1, err);
		if (rc < 0)
			return rc;
		int len = read_string(e, "path", r->path, err);
		if (len < 0)
			return len;
		rc = check_path(r->path, (size_t)len, err);
		if (rc < 0)
			return rc;
		switch (type) {
		case DELTA_DIR:
			rc = r->sink->dir(r->sink->ctx, r->path, err);
			break;
		case DELTA_SYMLINK:
			rc = read_string(e, "symlink target", r->target, err);
			if (rc >= 0)
				rc = r->sink->symlink(r->sink->ctx, r->path, r->target, err);
			break;
		case DELTA_FILE:
			rc = read_file(r, err);
			break;
		default:
			rc = ferry_error_set(err, FERRY_E_CORRUPT, "delta: unknown entry type %u",
			                     type);
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

int delta_read(int fd, const char *name, const struct delta_header *h,
               const struct delta_base *base, const struct delta_sink *sink, ferry_error *err)
{
	static const char *const what[DELTA_IMAGE] = {"entries", "control", "diff", "extra"};
	_cleanup_free_ struct reader *r = calloc(1, sizeof(*r));
	int rc = 0;

	if (!r)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	r->name = name;
	r->h = h;
	r->base = base;
	r->sink = sink;
	uint64_t off = DELTA_HEADER_SIZE;
	for (unsigned i = 0; i < DELTA_IMAGE && rc == 0; i++) {
		rc = ds_init(&r->s[i], what[i], fd, off, h->len[i], err);
		off += h->len[i];
	}
	if (rc == 0)
		rc = read_entries(r, err);
	if (rc == 0 && r->bytes != h->b_bytes)
		rc = ferry_error_set(err, FERRY_E_CORRUPT, "delta: files hold %llu bytes, not %llu",
		                     (unsigned long long)r->bytes, (unsigned long long)h->b_bytes);
	for (unsigned i = 0; i < DELTA_IMAGE && rc == 0; i++)
		rc = ds_finish(&r->s[i], err);
	for (unsigned i = 0; i < DELTA_IMAGE; i++)
		lzma_end(&r->s[i].z);
	if (rc < 0)
		return ferry_error_prefix(err, rc, "%s", name);
	return 0;
}

void delta_key(const void *data, size_t n, unsigned char key[8])
{
	unsigned char d[SHA256_DIGEST_LENGTH];
	SHA256(data, n, d);
	memcpy(key, d, 8);
}

int delta_unit_cmp(const struct delta_unit *x, const struct delta_unit *y)
{
	int c = memcmp(x->key, y->key, 8);
	if (c == 0)
		c = x->in_size < y->in_size ? -1 : x->in_size > y->in_size;
	return c;
}

const struct delta_unit *delta_table_find(const struct delta_table *t, const struct delta_unit *key)
{
	size_t lo = 0, hi = t->nunits;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = delta_unit_cmp(&t->units[mid], key);
		if (c == 0)
			return &t->units[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

void delta_table_free(struct delta_table *t)
{
	free(t->chunks);
	free(t->units);
	t->chunks = NULL;
	t->units = NULL;
}

static int read_table(struct dstream *s, const struct delta_header *h, struct delta_table *t,
                      ferry_error *err)
{
	uint64_t v;
	int rc = ds_varint(s, UINT32_MAX, "chunk size", &v, err);
	if (rc == 0 && v != DELTA_CHUNK)
		rc = ferry_error_set(err, FERRY_E_CORRUPT, "delta: chunk size %llu, not %u",
		                     (unsigned long long)v, DELTA_CHUNK);
	if (rc < 0)
		return rc;
	/* the header bounded b_size, so this is bounded too */
	t->nchunks = (h->b_size + DELTA_CHUNK - 1) / DELTA_CHUNK;
	t->chunks = malloc(t->nchunks * 8);
	if (!t->chunks)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	rc = ds_read(s, t->chunks, t->nchunks * 8, err);
	if (rc == 0)
		rc = ds_varint(s, DELTA_MAX_UNITS, "block count", &v, err);
	if (rc < 0)
		return rc;
	t->units = calloc(v ? v : 1, sizeof(*t->units));
	if (!t->units)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	for (size_t i = 0; i < v; i++) {
		struct delta_unit *u = &t->units[i];
		uint64_t in, out;
		rc = ds_read(s, u->key, 8, err);
		if (rc == 0)
			rc = ds_varint(s, IMAGE_BLOCK_SIZE, "block size", &in, err);
		if (rc == 0)
			rc = ds_varint(s, in ? in - 1 : 0, "compressed block size", &out, err);
		if (rc < 0)
			return rc;
		u->in_size = (uint32_t)in;
		u->out_size = (uint32_t)out;
		if (in == 0 || (i > 0 && delta_unit_cmp(&t->units[i - 1], u) >= 0))
			return ferry_error_set(err, FERRY_E_CORRUPT,
			                       "delta: block list out of order");
		t->nunits = i + 1;
	}
	return 0;
}

int delta_read_table(int fd, const char *name, const struct delta_header *h, struct delta_table *t,
                     ferry_error *err)
{
	_cleanup_free_ struct dstream *s = calloc(1, sizeof(*s));
	if (!s)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	memset(t, 0, sizeof(*t));
	uint64_t off = DELTA_HEADER_SIZE;
	for (unsigned i = 0; i < DELTA_IMAGE; i++)
		off += h->len[i];
	int rc = ds_init(s, "image", fd, off, h->len[DELTA_IMAGE], err);
	if (rc == 0)
		rc = read_table(s, h, t, err);
	if (rc == 0)
		rc = ds_finish(s, err);
	lzma_end(&s->z);
	if (rc < 0) {
		delta_table_free(t);
		return ferry_error_prefix(err, rc, "%s", name);
	}
	return 0;
}
