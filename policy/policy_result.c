/*
 * policy_result.c: the plain functions over lookup results that policy.h
 * declares (copying, the S22 decision, names). No I/O, no engine state.
 */
#include <stdint.h>
#include <stdlib.h>

#include "common/xmalloc.h"
#include "policy/policy.h"
#include "policy/sts_mx.h"

struct policy_result *
policy_result_dup(const struct policy_result *r)
{
	struct policy_result	*d;
	char			**mx = NULL;
	size_t			 i;

	d = xcalloc(1, sizeof(*d));
	*d = *r;
	d->domain = xstrdup(r->domain != NULL ? r->domain : "");
	d->id = xstrdup(r->id != NULL ? r->id : "");
	d->result_type = xstrdup(r->result_type != NULL ? r->result_type : "");
	d->reason = xstrdup(r->reason != NULL ? r->reason : "");
	d->txt_id = xstrdup(r->txt_id != NULL ? r->txt_id : "");
	if (r->nmx > 0) {
		mx = xreallocarray(NULL, r->nmx, sizeof(*mx));
		for (i = 0; i < r->nmx; i++)
			mx[i] = xstrdup(r->mx[i]);
	}
	d->mx = (const char *const *)mx;
	return d;
}

void
policy_result_free(struct policy_result *r)
{
	size_t	i;

	if (r == NULL)
		return;
	for (i = 0; i < r->nmx; i++)
		free((char *)(uintptr_t)r->mx[i]);
	free((void *)(uintptr_t)r->mx);
	free((char *)(uintptr_t)r->domain);
	free((char *)(uintptr_t)r->id);
	free((char *)(uintptr_t)r->result_type);
	free((char *)(uintptr_t)r->reason);
	free((char *)(uintptr_t)r->txt_id);
	free(r);
}

int
policy_mx_allowed(const struct policy_result *r, const char *mx_host)
{
	size_t	i;

	switch (r->mode) {
	case POLICY_MODE_ABSENT:
	case POLICY_MODE_NONE:
		return 1;
	case POLICY_MODE_TEMPFAIL:
		return 0;
	case POLICY_MODE_TESTING:
	case POLICY_MODE_ENFORCE:
		for (i = 0; i < r->nmx; i++)
			if (sts_mx_match(r->mx[i], mx_host))	/* S22 */
				return 1;
		return 0;
	}
	return 0;
}

const char *
policy_mode_name(enum policy_mode m)
{
	switch (m) {
	case POLICY_MODE_ABSENT:
		return "absent";
	case POLICY_MODE_NONE:
		return "none";
	case POLICY_MODE_TESTING:
		return "testing";
	case POLICY_MODE_ENFORCE:
		return "enforce";
	case POLICY_MODE_TEMPFAIL:
		return "tempfail";
	}
	return "unknown";
}

const char *
policy_source_name(enum policy_source s)
{
	switch (s) {
	case POLICY_SOURCE_NONE:
		return "none";
	case POLICY_SOURCE_FRESH:
		return "fresh";
	case POLICY_SOURCE_CACHED:
		return "cached";
	}
	return "unknown";
}
