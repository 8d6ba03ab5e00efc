// The sunsync.* settings (GUCs).  Documented in README.md.
#pragma once

extern "C" {
extern int sunsync_max_workers;
extern int sunsync_naptime_ms;
extern int sunsync_retry_max_delay_ms;
extern int sunsync_max_idle_connections;
extern int sunsync_connect_timeout_ms;
extern int sunsync_statement_timeout_ms;
extern int sunsync_lock_timeout_ms;
extern int sunsync_queue_retention_s;
extern int sunsync_queue_rotation_s;
extern bool sunsync_launch_continuous;
extern bool sunsync_allow_private_targets;
extern bool sunsync_require_ssl;
extern char *sunsync_key_file;
}

namespace sunsync {
void define_settings();
}
