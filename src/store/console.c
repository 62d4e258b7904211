/* console.c: finding a web console file by the path of a request (see
 * console.h). The files are byte arrays compiled into the binary, looked up
 * by exact name: no path reaches the file system, so "..", encoded
 * separators or symlinks cannot name anything else. Not here: the table
 * itself (generated: console_files.c), the HTTP answer (server.c). */
#include "console.h"

#include <string.h>

const struct console_file *console_find(const char *rel)
{
	if (!rel)
		return NULL;
	if (!*rel)
		rel = "index.html";
	for (size_t i = 0; i < console_files_count; i++)
		if (strcmp(console_files[i].name, rel) == 0)
			return &console_files[i];
	return NULL;
}
