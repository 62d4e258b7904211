/* interface_names.c: the list of interface names (interface_names.h). It
 * does not say what an interface grants (src/confine/interfaces.c does). */
#include "interface_names.h"

#include <string.h>

#include "base/str.h"

const char *const pkg_interfaces[] = {
    "network",
    "network-bind",
    "home",
    "removable-media",
    "serial-port",
    "gpio",
    "i2c",
    "spi",
    "camera",
    "audio-playback",
    "hardware-observe",
    "system-observe",
    "log-observe",
    "mount-observe",
    "network-observe",
    "shutdown",
    "time-control",
    NULL,
};

const char *const pkg_interfaces_declared_only[] = {"content", NULL};

static bool listed(const char *const *v, const char *name)
{
	for (; *v; v++)
		if (strcmp(*v, name) == 0)
			return true;
	return false;
}

bool pkg_interface_known(const char *name)
{
	return listed(pkg_interfaces, name) || listed(pkg_interfaces_declared_only, name);
}

const char *pkg_interface_suggest(const char *name)
{
	const char *hint = str_did_you_mean(name, pkg_interfaces);
	return hint ? hint : str_did_you_mean(name, pkg_interfaces_declared_only);
}
