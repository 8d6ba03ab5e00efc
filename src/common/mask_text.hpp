// Hides passwords in free text bound for the server log or pg_stat_activity:
// the password of every postgres:// or postgresql:// URL, the value of every
// password parameter of a URL (its key percent-encoded or not), and the
// value of every password=... keyword.  A URL ends where the SQL literal it
// sits in ends (a doubled quote does not end it), else at whitespace.  It
// errs on the side of hiding more: from the first ':' after the scheme to
// the last '@' of the URL is replaced by ***.  What it cannot see: a URL
// spelled with SQL escapes (E'...\x3a...', U&'...') or built by an
// expression ('postgresql://u:' || ...).  Server-free.
#pragma once

#include <string>
#include <string_view>

namespace sunsync {

// Whether text may hold something mask_passwords would change (cheap).
bool may_hold_password(std::string_view text);

std::string mask_passwords(std::string_view text);

} // namespace sunsync
