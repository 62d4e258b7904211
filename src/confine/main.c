/* main.c: the ferry-confine program; the sandbox is built by confine_main()
 * (run.c), which `ferry run` also calls in-process, saving an exec. */
#include "confine.h"

int main(int argc, char **argv)
{
	return confine_main(argc, argv);
}
