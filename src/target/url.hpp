// Target URL rules (DESIGN.md, behaviour 1).  Parsing is libpq's own
// (PQconninfoParse); what is allowed is decided here.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace sunsync {

struct UrlPolicy {
	bool superuser = false;
	bool allow_private_targets = false;
	bool require_ssl = false;
};

// Host name -> its addresses; throws sunsync::Error when it cannot resolve.
using HostResolver = std::function<std::vector<std::string>(const std::string &)>;

// The options a URL sets (libpq keyword -> value), as PQconninfoParse reads them.
using UrlOptions = std::map<std::string, std::string>;

// One address a connection may go to: the host as written (for TLS and for
// messages), the checked address libpq must use, and the port.
struct Endpoint {
	std::string host, hostaddr, port;
};

struct TargetUrl {
	UrlOptions options;
	// Every address that was checked, in libpq's order.  A connection goes
	// to exactly these (hostaddr), so a name is resolved once, here, and
	// cannot point elsewhere by the time libpq connects.
	std::vector<Endpoint> endpoints;
	std::vector<std::string> hosts;
	std::string dbname;
	std::string user;
	bool has_password = false;
	std::string masked; // the URL with every password replaced by ***
};

// The URL with its password (user info and ?password=) replaced by ***.
// Works on malformed URLs too, so that any message may show it.
std::string mask_url(const std::string &url);

// Replaces every password found in url, raw or percent-decoded, inside text.
std::string scrub_secrets(const std::string &text, const std::string &url);

// Parses with libpq; a malformed URL is an Error whose detail shows no password.
UrlOptions parse_url_options(const std::string &url);

// "a,b,,c" -> {a, b, "", c}: libpq's host, hostaddr and port lists.
std::vector<std::string> split_comma_list(const std::string &value);

// Validates a target URL; throws sunsync::Error naming what is wrong.
TargetUrl check_target_url(const std::string &url, const UrlPolicy &policy,
						   const HostResolver &resolve);

} // namespace sunsync
