// No password in any log line, whatever the settings (DESIGN.md behaviour 2):
// an emit_log_hook masks the password of every postgres:// URL (and every
// password=...) in the message, detail, hint, context and internal query of
// each report, and in the statement text PostgreSQL logs with it
// (log_statement, log_min_error_statement, log_min_duration_statement).
#pragma once

namespace sunsync::pg {

// From _PG_init: every backend and worker of the server.
void install_log_masking();

// pg_stat_activity.query of this backend without passwords, while a sunsync
// function that takes a URL runs.
void mask_reported_activity();

} // namespace sunsync::pg
