#include "engine/target_login.hpp"

#include "crypto/seal.hpp"
#include "pg/guard.hpp"
#include "settings.hpp"

extern "C" {
#include "mb/pg_wchar.h"
}

namespace sunsync::engine {

std::string unseal_target_url(const std::string &sealed, const std::string &id)
{
	SealKey key = load_key(sunsync_key_file ? sunsync_key_file : "");
	return unseal(key, sealed, "sunsync config " + id);
}

remote::ConnectOptions target_options(bool trusted, std::function<void()> check_stop)
{
	remote::ConnectOptions options;
	options.allow_private_targets = sunsync_allow_private_targets;
	options.trusted = trusted;
	options.connect_timeout_ms = sunsync_connect_timeout_ms;
	options.statement_timeout_ms = sunsync_statement_timeout_ms;
	options.lock_timeout_ms = sunsync_lock_timeout_ms;
	options.check_stop = std::move(check_stop);
	// text is in the database's encoding (a worker's own client encoding is
	// SQL_ASCII: no conversion); the target converts it
	options.client_encoding = GetDatabaseEncodingName();
	return options;
}

} // namespace sunsync::engine
