#include "pg/log_masking.hpp"

#include "common/mask_text.hpp"
#include "pg/guard.hpp"

extern "C" {
#include "pgstat.h"
#include "tcop/tcopprot.h"
#include "utils/backend_status.h"
#include "utils/elog.h"
#include "utils/memutils.h"
}

#include <cstring>
#include <string>

namespace sunsync::pg {

namespace {

emit_log_hook_type previous_hook = nullptr;
char *masked_statement = nullptr; // our copy, while debug_query_string points to it

// A palloc'd copy in `context`, or nullptr when memory is short: this runs
// while an error is being reported, so it must not raise one itself.
char *copy_in(MemoryContext context, const std::string &s)
{
	auto *out = static_cast<char *>(MemoryContextAllocExtended(context, s.size() + 1, MCXT_ALLOC_NO_OOM));
	if (out != nullptr)
		memcpy(out, s.c_str(), s.size() + 1);
	return out;
}

// Replaces a field of the report (palloc'd in ErrorContext, pfree'd by elog).
void mask_field(char *&field) noexcept
{
	if (field == nullptr || !may_hold_password(field))
		return;
	char *masked = nullptr;
	try {
		masked = copy_in(CurrentMemoryContext, mask_passwords(field));
	} catch (...) {
	}
	if (masked != nullptr)
		field = masked;
	else
		field[0] = '\0'; // cannot mask: say nothing rather than leak
}

void mask_statement() noexcept
{
	if (debug_query_string == nullptr || debug_query_string == masked_statement ||
		!may_hold_password(debug_query_string))
		return;
	char *masked = nullptr;
	try {
		masked = copy_in(TopMemoryContext, mask_passwords(debug_query_string));
	} catch (...) {
	}
	if (masked_statement != nullptr)
		pfree(masked_statement);
	masked_statement = masked;
	// the statement is only logged from here on; an empty one leaks nothing
	debug_query_string = masked != nullptr ? masked : "";
}

void emit_log(ErrorData *edata)
{
	mask_field(edata->message);
	mask_field(edata->detail);
	mask_field(edata->detail_log);
	mask_field(edata->hint);
	mask_field(edata->context);
	mask_field(edata->internalquery);
	mask_statement();
	if (previous_hook != nullptr)
		previous_hook(edata);
}

} // namespace

void install_log_masking()
{
	previous_hook = emit_log_hook;
	emit_log_hook = emit_log;
}

void mask_reported_activity()
{
	if (debug_query_string == nullptr || !may_hold_password(debug_query_string))
		return;
	std::string masked = mask_passwords(debug_query_string);
	guard([&] { pgstat_report_activity(STATE_RUNNING, masked.c_str()); });
}

} // namespace sunsync::pg
