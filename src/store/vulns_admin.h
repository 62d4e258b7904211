/* vulns_admin.h: the `ferry-store vulns import|sources` commands. Not
 * here: the import itself (vulns.h). */
#pragma once

/* The arguments after the verb; returns the exit status. */
int vulns_main(int argc, char **argv);
