// Hides passwords in free text bound for the server log or pg_stat_activity:
// the password of every postgres:// or postgresql:// URL, and the value of
// every password=... (URL query parameter or conninfo keyword).  It errs on
// the side of hiding more: from the first ':' after the scheme to the last
// '@' before the next whitespace is replaced by ***.  Server-free.
#pragma once

#include <string>
#include <string_view>

namespace sunsync {

// Whether text may hold something mask_passwords would change (cheap).
bool may_hold_password(std::string_view text);

std::string mask_passwords(std::string_view text);

} // namespace sunsync
