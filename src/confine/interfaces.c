/* interfaces.c: the interface table, the single source of truth for what each
 * plug grants: paths and their access, device nodes, supplementary groups,
 * system calls (seccomp rule groups lifted), capabilities and flags.
 *
 * docs/interfaces.md carries the same table, printed by
 * `ferry-confine --list-interfaces`; a system test checks that they agree.
 * This file does not decide whether a plug is connected (the agent does) and
 * does not mount anything (mount.c turns paths into mounts, landlock.c into
 * rules). */
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "confine.h"

#define NOCAPS                                                                                     \
	{                                                                                          \
		-1, -1                                                                             \
	}

static const struct iface ifaces[] = {
    {
        .name = "network",
        .summary = "open connections to the host's networks",
        .paths = {{"/run/systemd/resolve", NULL, ACCESS_RO}, {"/run/resolvconf", NULL, ACCESS_RO}},
        .caps = NOCAPS,
        .flags = IFACE_HOST_NET | IFACE_TCP_CONNECT,
        .note = "no TCP bind without `network-bind`",
    },
    {
        .name = "network-bind",
        .summary = "accept connections on the host's networks (listen on TCP ports)",
        .caps = NOCAPS,
        .flags = IFACE_HOST_NET | IFACE_TCP_BIND,
        .note = "no outgoing TCP connect without `network`",
    },
    {
        .name = "home",
        .summary = "users' home directories",
        .paths = {{"/home", NULL, ACCESS_RW}},
        .caps = NOCAPS,
        .note = "Unix permissions still apply: the package's uid reads what others may read; /root "
                "stays hidden",
    },
    {
        .name = "removable-media",
        .summary = "mounted removable media",
        .paths = {{"/media", NULL, ACCESS_RW},
                  {"/mnt", NULL, ACCESS_RW},
                  {"/run/media", NULL, ACCESS_RW}},
        .caps = NOCAPS,
    },
    {
        .name = "serial-port",
        .summary = "serial ports",
        .paths = {{"/dev/ttyS*", NULL, ACCESS_DEV},
                  {"/dev/ttyUSB*", NULL, ACCESS_DEV},
                  {"/dev/ttyACM*", NULL, ACCESS_DEV},
                  {"/dev/ttyAMA*", NULL, ACCESS_DEV}},
        .groups = {"dialout"},
        .caps = NOCAPS,
    },
    {
        .name = "gpio",
        .summary = "GPIO character devices",
        .paths = {{"/dev/gpiochip*", NULL, ACCESS_DEV}},
        .groups = {"gpio"},
        .caps = NOCAPS,
    },
    {
        .name = "i2c",
        .summary = "I2C buses",
        .paths = {{"/dev/i2c-*", NULL, ACCESS_DEV}},
        .groups = {"i2c"},
        .caps = NOCAPS,
    },
    {
        .name = "spi",
        .summary = "SPI devices",
        .paths = {{"/dev/spidev*", NULL, ACCESS_DEV}},
        .groups = {"spi"},
        .caps = NOCAPS,
    },
    {
        .name = "camera",
        .summary = "video capture devices",
        .paths = {{"/dev/video*", NULL, ACCESS_DEV}, {"/dev/media*", NULL, ACCESS_DEV}},
        .groups = {"video"},
        .caps = NOCAPS,
    },
    {
        .name = "audio-playback",
        .summary = "ALSA sound devices",
        .paths = {{"/dev/snd", NULL, ACCESS_DEV}},
        .groups = {"audio"},
        .caps = NOCAPS,
    },
    {
        .name = "hardware-observe",
        .summary = "read hardware information",
        .paths = {{"/sys", NULL, ACCESS_RO}, {"/run/udev/data", NULL, ACCESS_RO}},
        .caps = NOCAPS,
    },
    {
        .name = "system-observe",
        .summary = "see the host's processes",
        .paths = {{"/proc", "/run/host/proc", ACCESS_RO}},
        .caps = NOCAPS,
        .note = "the sandbox's own /proc still shows only its own processes; ptrace stays denied",
    },
    {
        .name = "log-observe",
        .summary = "read system logs",
        .paths = {{"/var/log", NULL, ACCESS_RO}, {"/dev/kmsg", NULL, ACCESS_DEV_RO}},
        .groups = {"adm"},
        .lifts = LIFT_SYSLOG,
        .caps = NOCAPS,
        .note = "where kernel.dmesg_restrict is 1 the kernel log stays closed: CAP_SYSLOG is never "
                "granted "
                "(it would also reveal kernel addresses)",
    },
    {
        .name = "mount-observe",
        .summary = "read the host's mount table",
        .paths = {{"/proc/1/mountinfo", "/run/host/mountinfo", ACCESS_RO}},
        .caps = NOCAPS,
    },
    {
        .name = "network-observe",
        .summary = "read the host's network state",
        .paths = {{"/proc/1/net", "/run/host/net", ACCESS_RO}},
        .caps = NOCAPS,
    },
    {
        .name = "shutdown",
        .summary = "ask for a reboot or power-off",
        .lifts = LIFT_REBOOT,
        .caps = {CAP_SYS_BOOT, -1},
        .note =
            "reboot(2) inside the sandbox's PID namespace ends the sandbox; ferry-confine reports "
            "the request (status line `reboot restart` or `reboot poweroff`) and the agent acts on "
            "it",
    },
    {
        .name = "time-control",
        .summary = "set the system clock and RTC",
        .paths = {{"/dev/rtc*", NULL, ACCESS_DEV}},
        .lifts = LIFT_TIME,
        .caps = {CAP_SYS_TIME, -1},
    },
};

const struct iface *iface_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(ifaces); i++)
		if (strcmp(ifaces[i].name, name) == 0)
			return &ifaces[i];
	return NULL;
}

const struct iface *iface_all(size_t *n)
{
	*n = ARRAY_SIZE(ifaces);
	return ifaces;
}

const char *confine_access_name(enum confine_access a)
{
	switch (a) {
	case ACCESS_RO:
		return "read-only";
	case ACCESS_RW:
		return "read-write";
	case ACCESS_DEV:
		return "device, read-write";
	case ACCESS_DEV_RO:
		return "device, read-only";
	}
	return "?";
}

const char *confine_cap_name(int cap)
{
	switch (cap) {
	case CAP_SYS_BOOT:
		return "CAP_SYS_BOOT";
	case CAP_SYS_TIME:
		return "CAP_SYS_TIME";
	}
	return "?";
}

/* The system calls a lift allows, in words; seccomp.c holds the rules. */
static void print_lifts(FILE *out, unsigned lifts)
{
	size_t n;
	const struct syscall_rule *r = syscall_filter_rules(&n);
	bool first = true;

	for (size_t i = 0; i < n; i++) {
		if (!(r[i].lifted_by & lifts))
			continue;
		for (size_t j = 0; r[i].syscalls[j]; j++) {
			fprintf(out, "%s`%s`", first ? "" : ", ", r[i].syscalls[j]);
			first = false;
		}
	}
	if (first)
		fputs("—", out);
}

void iface_print_markdown(FILE *out)
{
	fputs("| interface | grants | paths | groups | system calls | capabilities | other |\n",
	      out);
	fputs("|---|---|---|---|---|---|---|\n", out);
	for (size_t i = 0; i < ARRAY_SIZE(ifaces); i++) {
		const struct iface *f = &ifaces[i];
		bool any = false;

		fprintf(out, "| `%s` | %s | ", f->name, f->summary);
		for (size_t j = 0; j < IFACE_MAX_PATHS && f->paths[j].host; j++) {
			const struct iface_path *ip = &f->paths[j];
			fprintf(out, "%s`%s`", any ? "<br>" : "", ip->host);
			if (ip->sandbox)
				fprintf(out, " at `%s`", ip->sandbox);
			fprintf(out, " (%s)", confine_access_name(ip->access));
			any = true;
		}
		fputs(any ? " | " : "— | ", out);
		any = false;
		for (size_t j = 0; j < ARRAY_SIZE(f->groups) && f->groups[j]; j++) {
			fprintf(out, "%s`%s`", any ? ", " : "", f->groups[j]);
			any = true;
		}
		fputs(any ? " | " : "— | ", out);
		print_lifts(out, f->lifts);
		fputs(" | ", out);
		any = false;
		for (size_t j = 0; j < ARRAY_SIZE(f->caps) && f->caps[j] >= 0; j++) {
			fprintf(out, "%s`%s`", any ? ", " : "", confine_cap_name(f->caps[j]));
			any = true;
		}
		fputs(any ? " | " : "— | ", out);
		any = false;
		if (f->flags & IFACE_HOST_NET) {
			fputs("host network namespace", out);
			any = true;
		}
		if (f->flags & IFACE_TCP_CONNECT) {
			fprintf(out, "%sTCP connect allowed", any ? "; " : "");
			any = true;
		}
		if (f->flags & IFACE_TCP_BIND) {
			fprintf(out, "%sTCP bind allowed", any ? "; " : "");
			any = true;
		}
		if (f->note) {
			fprintf(out, "%s%s", any ? "; " : "", f->note);
			any = true;
		}
		fputs(any ? " |\n" : "— |\n", out);
	}
}
