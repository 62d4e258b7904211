/* elf.c: a bounded reader of ELF dynamic linking data (see elf.h). Every
 * read goes through rd() with an offset and size checked against the
 * buffer; addresses from the dynamic section are mapped to file offsets
 * through the PT_LOAD segments, as the loader would. It does not look at
 * section headers, which the loader ignores and a hostile file may forge. */
#include "pkg/elf.h"

#include <stdlib.h>
#include <string.h>

#define DT_NULL 0
#define DT_NEEDED 1
#define DT_STRTAB 5
#define DT_STRSZ 10
#define DT_SONAME 14
#define DT_RPATH 15
#define DT_RUNPATH 29
#define DT_VERDEF 0x6ffffffc
#define DT_VERDEFNUM 0x6ffffffd
#define DT_VERNEED 0x6ffffffe
#define DT_VERNEEDNUM 0x6fffffff
#define PT_LOAD 1
#define PT_DYNAMIC 2

struct rd {
	const unsigned char *p;
	size_t len;
	bool be, is_64;
	const char *name;
	ferry_error *err;
	uint64_t strtab, strsz; /* file offset and size of the string table */
	/* PT_LOAD segments */
	uint64_t load_vaddr[ELF_MAX_PHDRS], load_off[ELF_MAX_PHDRS], load_size[ELF_MAX_PHDRS];
	size_t n_load;
};

static int bad(struct rd *r, const char *what)
{
	return ferry_error_set(r->err, FERRY_E_CORRUPT, "%s: not a valid ELF file: %s", r->name,
	                       what);
}

/* Is [off, off+n) inside the buffer? */
static bool in(const struct rd *r, uint64_t off, uint64_t n)
{
	return off <= r->len && n <= r->len - off;
}

static uint64_t get(const struct rd *r, uint64_t off, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++) {
		unsigned shift = r->be ? 8 * (n - 1 - i) : 8 * i;
		v |= (uint64_t)r->p[off + i] << shift;
	}
	return v;
}

/* The file offset of the virtual address a, with n bytes there. */
static bool map(const struct rd *r, uint64_t a, uint64_t n, uint64_t *off)
{
	for (size_t i = 0; i < r->n_load; i++) {
		if (a < r->load_vaddr[i] || a - r->load_vaddr[i] >= r->load_size[i])
			continue;
		uint64_t rel = a - r->load_vaddr[i];
		if (n > r->load_size[i] - rel)
			return false;
		*off = r->load_off[i] + rel;
		return in(r, *off, n);
	}
	return false;
}

/* A copy of the string at index idx of the string table. */
static int str_at(struct rd *r, uint64_t idx, char **out)
{
	if (idx >= r->strsz)
		return bad(r, "a string index past the string table");
	uint64_t off = r->strtab + idx, max = r->strsz - idx;
	if (max > ELF_MAX_STRING)
		max = ELF_MAX_STRING;
	const unsigned char *s = r->p + off;
	const unsigned char *nul = memchr(s, '\0', (size_t)max);
	if (!nul)
		return bad(r, "a string without an end");
	*out = strndup((const char *)s, (size_t)(nul - s));
	return *out ? 0 : ferry_error_set(r->err, FERRY_E_NOMEM, "out of memory");
}

static int add_str(struct rd *r, char ***v, size_t *n, size_t max, char *s, const char *what)
{
	if (*n >= max) {
		free(s);
		return ferry_error_set(r->err, FERRY_E_LIMIT, "%s: more than %zu %s", r->name, max,
		                       what);
	}
	char **nv = realloc(*v, (*n + 1) * sizeof(char *));
	if (!nv) {
		free(s);
		return ferry_error_set(r->err, FERRY_E_NOMEM, "out of memory");
	}
	nv[(*n)++] = s;
	*v = nv;
	return 0;
}

static int read_verneed(struct rd *r, uint64_t addr, uint64_t num, struct elf_info *o)
{
	uint64_t off;
	size_t total = 0;
	if (num > ELF_MAX_VERSIONS)
		return ferry_error_set(r->err, FERRY_E_LIMIT, "%s: more than %d DT_VERNEED entries",
		                       r->name, ELF_MAX_VERSIONS);
	if (!map(r, addr, 16, &off))
		return bad(r, "DT_VERNEED outside the file");
	for (uint64_t i = 0; i < num; i++) {
		if (!in(r, off, 16))
			return bad(r, "a Verneed entry outside the file");
		uint64_t cnt = get(r, off + 2, 2), file = get(r, off + 4, 4),
		         aux = get(r, off + 8, 4), next = get(r, off + 12, 4);
		char *fname = NULL;
		int rc = str_at(r, file, &fname);
		if (rc < 0)
			return rc;
		uint64_t a = off + aux;
		for (uint64_t j = 0; j < cnt; j++) {
			if (++total > ELF_MAX_VERSIONS) {
				free(fname);
				return ferry_error_set(r->err, FERRY_E_LIMIT,
				                       "%s: more than %d needed versions", r->name,
				                       ELF_MAX_VERSIONS);
			}
			if (aux == 0 || !in(r, a, 16)) {
				free(fname);
				return bad(r, "a Vernaux entry outside the file");
			}
			char *ver = NULL;
			if ((rc = str_at(r, get(r, a + 8, 4), &ver)) < 0) {
				free(fname);
				return rc;
			}
			struct elf_verneed *nv =
			    realloc(o->verneed, (o->n_verneed + 1) * sizeof(*nv));
			if (nv)
				o->verneed = nv;
			char *fcopy = nv ? strdup(fname) : NULL;
			if (!fcopy) {
				free(ver);
				free(fname);
				return ferry_error_set(r->err, FERRY_E_NOMEM, "out of memory");
			}
			o->verneed = nv;
			nv[o->n_verneed].file = fcopy;
			nv[o->n_verneed].version = ver;
			o->n_verneed++;
			uint64_t an = get(r, a + 12, 4);
			if (an == 0)
				break;
			a += an;
		}
		free(fname);
		if (next == 0)
			break;
		off += next;
	}
	return 0;
}

static int read_verdef(struct rd *r, uint64_t addr, uint64_t num, struct elf_info *o)
{
	uint64_t off;
	if (num > ELF_MAX_VERSIONS)
		return ferry_error_set(r->err, FERRY_E_LIMIT, "%s: more than %d DT_VERDEF entries",
		                       r->name, ELF_MAX_VERSIONS);
	if (!map(r, addr, 20, &off))
		return bad(r, "DT_VERDEF outside the file");
	for (uint64_t i = 0; i < num; i++) {
		if (!in(r, off, 20))
			return bad(r, "a Verdef entry outside the file");
		uint64_t cnt = get(r, off + 6, 2), aux = get(r, off + 12, 4),
		         next = get(r, off + 16, 4);
		if (cnt > 0) { /* the first Verdaux names the version */
			if (!in(r, off + aux, 8))
				return bad(r, "a Verdaux entry outside the file");
			char *name = NULL;
			int rc = str_at(r, get(r, off + aux, 4), &name);
			if (rc == 0)
				rc = add_str(r, &o->verdef, &o->n_verdef, ELF_MAX_VERSIONS, name,
				             "defined versions");
			if (rc < 0)
				return rc;
		}
		if (next == 0)
			break;
		off += next;
	}
	return 0;
}

bool elf_is_elf(const unsigned char *data, size_t len)
{
	return len >= 4 && memcmp(data,
	                          "\x7f"
	                          "ELF",
	                          4) == 0;
}

int elf_parse(const unsigned char *data, size_t len, const char *name, struct elf_info *out,
              ferry_error *err)
{
	struct rd *r = calloc(1, sizeof(*r));
	int rc = 0;
	memset(out, 0, sizeof(*out));
	if (!r)
		return ferry_error_set(err, FERRY_E_NOMEM, "out of memory");
	r->p = data;
	r->len = len;
	r->name = name;
	r->err = err;
	if (!elf_is_elf(data, len) || len < 52) {
		rc = bad(r, "too short or no ELF magic");
		goto out;
	}
	if ((data[4] != 1 && data[4] != 2) || (data[5] != 1 && data[5] != 2)) {
		rc = bad(r, "unknown class or byte order");
		goto out;
	}
	r->is_64 = data[4] == 2;
	r->be = data[5] == 2;
	out->is_64 = r->is_64;
	if (r->is_64 && len < 64) {
		rc = bad(r, "header cut short");
		goto out;
	}
	out->type = (uint16_t)get(r, 16, 2);
	out->machine = (uint16_t)get(r, 18, 2);
	unsigned w = r->is_64 ? 8 : 4;
	uint64_t phoff = get(r, r->is_64 ? 32 : 28, w);
	uint64_t phentsize = get(r, r->is_64 ? 54 : 42, 2);
	uint64_t phnum = get(r, r->is_64 ? 56 : 44, 2);
	uint64_t want = r->is_64 ? 56 : 32;
	if (phnum == 0)
		goto out; /* nothing to load: nothing needed */
	if (phentsize < want || phnum > ELF_MAX_PHDRS || !in(r, phoff, phentsize * phnum)) {
		rc = bad(r, "program headers outside the file or too many");
		goto out;
	}
	uint64_t dyn_off = 0, dyn_size = 0;
	for (uint64_t i = 0; i < phnum; i++) {
		uint64_t ph = phoff + i * phentsize;
		uint64_t type = get(r, ph, 4);
		uint64_t off = get(r, ph + (r->is_64 ? 8 : 4), w);
		uint64_t vaddr = get(r, ph + (r->is_64 ? 16 : 8), w);
		uint64_t filesz = get(r, ph + (r->is_64 ? 32 : 16), w);
		if (type == PT_LOAD) {
			if (!in(r, off, filesz)) {
				rc = bad(r, "a PT_LOAD segment outside the file");
				goto out;
			}
			r->load_vaddr[r->n_load] = vaddr;
			r->load_off[r->n_load] = off;
			r->load_size[r->n_load] = filesz;
			r->n_load++;
		} else if (type == PT_DYNAMIC) {
			if (!in(r, off, filesz)) {
				rc = bad(r, "PT_DYNAMIC outside the file");
				goto out;
			}
			dyn_off = off;
			dyn_size = filesz;
			out->dynamic = true;
		}
	}
	if (!out->dynamic)
		goto out;

	uint64_t dsz = 2 * (uint64_t)w, n_dyn = dyn_size / dsz;
	if (n_dyn > ELF_MAX_DYNAMIC) {
		rc = ferry_error_set(err, FERRY_E_LIMIT, "%s: more than %d dynamic entries", name,
		                     ELF_MAX_DYNAMIC);
		goto out;
	}
	uint64_t strtab = 0, strsz = 0, verneed = 0, verneednum = 0, verdef = 0, verdefnum = 0;
	bool has_strtab = false;
	for (uint64_t i = 0; i < n_dyn; i++) {
		uint64_t tag = get(r, dyn_off + i * dsz, w), val = get(r, dyn_off + i * dsz + w, w);
		if (tag == DT_NULL)
			break;
		if (tag == DT_STRTAB) {
			strtab = val;
			has_strtab = true;
		} else if (tag == DT_STRSZ)
			strsz = val;
		else if (tag == DT_VERNEED)
			verneed = val;
		else if (tag == DT_VERNEEDNUM)
			verneednum = val;
		else if (tag == DT_VERDEF)
			verdef = val;
		else if (tag == DT_VERDEFNUM)
			verdefnum = val;
	}
	if (!has_strtab || strsz == 0 || !map(r, strtab, strsz, &r->strtab)) {
		rc = bad(r, "no string table inside the file");
		goto out;
	}
	r->strsz = strsz;
	for (uint64_t i = 0; i < n_dyn && rc == 0; i++) {
		uint64_t tag = get(r, dyn_off + i * dsz, w), val = get(r, dyn_off + i * dsz + w, w);
		char *s = NULL;
		if (tag == DT_NULL)
			break;
		if (tag != DT_NEEDED && tag != DT_SONAME && tag != DT_RUNPATH && tag != DT_RPATH)
			continue;
		if ((rc = str_at(r, val, &s)) < 0)
			break;
		if (tag == DT_NEEDED) {
			rc = add_str(r, &out->needed, &out->n_needed, ELF_MAX_NEEDED, s,
			             "DT_NEEDED entries");
		} else if (tag == DT_SONAME && !out->soname) {
			out->soname = s;
		} else if (tag == DT_RUNPATH || (tag == DT_RPATH && !out->runpath)) {
			free(out->runpath);
			out->runpath = s;
		} else {
			free(s);
		}
	}
	if (rc == 0 && verneed && verneednum)
		rc = read_verneed(r, verneed, verneednum, out);
	if (rc == 0 && verdef && verdefnum)
		rc = read_verdef(r, verdef, verdefnum, out);
out:
	free(r);
	if (rc < 0)
		elf_info_free(out);
	return rc;
}

void elf_info_free(struct elf_info *o)
{
	if (!o)
		return;
	free(o->soname);
	free(o->runpath);
	for (size_t i = 0; i < o->n_needed; i++)
		free(o->needed[i]);
	free(o->needed);
	for (size_t i = 0; i < o->n_verneed; i++) {
		free(o->verneed[i].file);
		free(o->verneed[i].version);
	}
	free(o->verneed);
	for (size_t i = 0; i < o->n_verdef; i++)
		free(o->verdef[i]);
	free(o->verdef);
	memset(o, 0, sizeof(*o));
}

bool elf_defines(const struct elf_info *o, const char *version)
{
	for (size_t i = 0; i < o->n_verdef; i++)
		if (strcmp(o->verdef[i], version) == 0)
			return true;
	return false;
}
