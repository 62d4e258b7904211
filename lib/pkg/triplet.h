/* triplet.h: the multiarch folder name of a Debian architecture ("amd64" ->
 * "x86_64-linux-gnu"): where lib/ and usr/lib/ keep its libraries, in a
 * package as in a base. The ELF check looks there; ferry-confine puts the
 * package's on LD_LIBRARY_PATH. A file of its own so that ferry-confine
 * (and `ferry run`, which runs its code) link nothing else of lib/pkg for
 * it: the ELF check pulls in apt and the image reader, whose libraries
 * (libsquashfs and its compressors) would be loaded at every sandbox start. */
#pragma once

/* "unknown-linux-gnu" for an architecture it does not know. */
const char *triplet_for_arch(const char *arch);
