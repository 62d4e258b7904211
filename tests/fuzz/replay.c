/* replay.c: runs a libFuzzer harness over every file of a corpus directory
 * (and its subdirectories), without libFuzzer. Used by the test suite to
 * replay seeds and past crashes under ASan/UBSan. Exit 0 when every input
 * ran; a crash aborts through the sanitizers. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/cleanup.h"
#include "base/fs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_path(const char *path, int depth, unsigned *count)
{
	struct stat st;
	if (depth > 8 || stat(path, &st) < 0)
		return -1;
	if (S_ISDIR(st.st_mode)) {
		struct dirent **names = NULL;
		int n = scandir(path, &names, NULL, alphasort);
		if (n < 0)
			return -1;
		int rc = 0;
		for (int i = 0; i < n; i++) {
			if (rc == 0 && names[i]->d_name[0] != '.') {
				_cleanup_free_ char *sub = NULL;
				if (asprintf(&sub, "%s/%s", path, names[i]->d_name) < 0)
					rc = -1;
				else
					rc = replay_path(sub, depth + 1, count);
			}
			free(names[i]);
		}
		free(names);
		return rc;
	}
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	if (fs_read_file(path, 64u << 20, &data, &len, NULL) < 0) {
		fprintf(stderr, "replay: cannot read %s\n", path);
		return -1;
	}
	LLVMFuzzerTestOneInput((const uint8_t *)data, len);
	(*count)++;
	return 0;
}

int main(int argc, char **argv)
{
	unsigned count = 0;
	for (int i = 1; i < argc; i++)
		if (replay_path(argv[i], 0, &count) < 0) {
			fprintf(stderr, "replay: failed on %s\n", argv[i]);
			return 1;
		}
	if (count == 0) {
		fprintf(stderr, "replay: no inputs found\n");
		return 1;
	}
	printf("replayed %u inputs\n", count);
	return 0;
}
