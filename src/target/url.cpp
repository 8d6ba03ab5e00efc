#include "target/url.hpp"

#include "common/split.hpp"

#include "common/error.hpp"
#include "target/address.hpp"

#include <libpq-fe.h>

#include <cstdlib>
#include <map>
#include <memory>

namespace sunsync {

namespace {

const char *const schemes[] = {"postgresql://", "postgres://"};

// Options that make libpq read files of the server that runs sunsync.
const char *const server_file_options[] = {"passfile", "service", "sslcert", "sslkey",
										   "sslrootcert", "sslcrl", "sslcrldir"};

size_t scheme_length(const std::string &url)
{
	for (const char *s : schemes) {
		std::string prefix(s);
		if (url.compare(0, prefix.size(), prefix) == 0)
			return prefix.size();
	}
	return 0;
}

std::string percent_decode(const std::string &s)
{
	std::string out;
	for (size_t i = 0; i < s.size(); i++) {
		if (s[i] == '%' && i + 2 < s.size() + 0 && isxdigit((unsigned char) s[i + 1]) &&
			isxdigit((unsigned char) s[i + 2])) {
			out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
			i += 2;
		} else
			out += s[i];
	}
	return out;
}

// The pieces of a URL as libpq splits them (conninfo_uri_parse_options):
// user info ends at the first '@' met before any '/'; the password is what
// follows its first ':'; parameters follow the first '?' after that.
struct UrlPieces {
	size_t password_begin = std::string::npos, password_end = 0;
	// [begin, end) of each ?password= value
	std::vector<std::pair<size_t, size_t>> param_passwords;
};

UrlPieces split_url(const std::string &url)
{
	UrlPieces pieces;
	size_t start = scheme_length(url);
	if (start == 0)
		return pieces;
	size_t p = start;
	while (p < url.size() && url[p] != '@' && url[p] != '/')
		p++;
	size_t rest = start;
	if (p < url.size() && url[p] == '@') {
		size_t colon = url.find(':', start);
		if (colon != std::string::npos && colon < p) {
			pieces.password_begin = colon + 1;
			pieces.password_end = p;
		}
		rest = p + 1;
	}
	size_t q = url.find('?', rest);
	while (q != std::string::npos && q < url.size()) {
		size_t key_begin = q + 1;
		size_t amp = url.find('&', key_begin);
		size_t end = amp == std::string::npos ? url.size() : amp;
		size_t eq = url.find('=', key_begin);
		if (eq != std::string::npos && eq < end &&
			percent_decode(url.substr(key_begin, eq - key_begin)) == "password")
			pieces.param_passwords.emplace_back(eq + 1, end);
		q = amp;
	}
	return pieces;
}

[[noreturn]] void refuse(const char *code, std::string message, std::string detail = {},
						 std::string hint = {})
{
	throw Error(code, std::move(message), std::move(detail), std::move(hint));
}

const char *private_hint =
	"Targets must be public addresses; a superuser may allow others with "
	"sunsync.allow_private_targets.";

void check_address(const std::string &host, const std::string &ip, const UrlPolicy &policy)
{
	AddressClass c = classify_address(ip);
	if (c == AddressClass::Public || policy.allow_private_targets)
		return;
	std::string detail = host == ip ? "" : "\"" + host + "\" resolves to " + ip + ".";
	refuse(sqlstate::invalid_parameter_value,
		   "target host \"" + host + "\" is " + address_class_phrase(c), detail,
		   private_hint);
}

} // namespace

std::string mask_url(const std::string &url)
{
	UrlPieces pieces = split_url(url);
	std::vector<std::pair<size_t, size_t>> spans = pieces.param_passwords;
	if (pieces.password_begin != std::string::npos)
		spans.insert(spans.begin(), {pieces.password_begin, pieces.password_end});
	std::string out;
	size_t at = 0;
	for (auto [b, e] : spans) {
		out += url.substr(at, b - at) + "***";
		at = e;
	}
	return out + url.substr(at);
}

std::string scrub_secrets(const std::string &text, const std::string &url)
{
	UrlPieces pieces = split_url(url);
	std::vector<std::string> secrets;
	if (pieces.password_begin != std::string::npos)
		secrets.push_back(url.substr(pieces.password_begin, pieces.password_end - pieces.password_begin));
	for (auto [b, e] : pieces.param_passwords)
		secrets.push_back(url.substr(b, e - b));
	for (size_t i = 0, n = secrets.size(); i < n; i++)
		secrets.push_back(percent_decode(secrets[i]));
	std::string out = text;
	for (const auto &s : secrets) {
		if (s.empty())
			continue;
		for (size_t p = out.find(s); p != std::string::npos; p = out.find(s, p + 3))
			out.replace(p, s.size(), "***");
	}
	return out;
}

namespace {

// Whether a value libpq parsed out of the URL may hold part of a password:
// a '/' or '?' in a password (not percent-encoded) makes libpq read part of
// it as the port or the database; such a value is never echoed.
bool may_be_secret(const std::string &value, const std::string &url)
{
	size_t start = url.find("://");
	size_t at = url.rfind('@');
	if (value.empty() || start == std::string::npos || at == std::string::npos || at < start)
		return false;
	return url.substr(start + 3, at - start - 3).find(value) != std::string::npos;
}

std::string shown(const std::string &value, const std::string &url)
{
	return may_be_secret(value, url) ? "(not shown: it may be part of the password; write '/' and '?' in a "
									   "password as %2F and %3F)"
									 : "\"" + value + "\"";
}

} // namespace

std::vector<std::string> split_comma_list(const std::string &value) { return split(value, ','); }

UrlOptions parse_url_options(const std::string &url)
{
	char *errmsg = nullptr;
	std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> options(
		PQconninfoParse(url.c_str(), &errmsg), PQconninfoFree);
	if (!options) {
		std::string why = errmsg ? errmsg : "out of memory";
		PQfreemem(errmsg);
		while (!why.empty() && (why.back() == '\n' || why.back() == ' '))
			why.pop_back();
		refuse(sqlstate::invalid_parameter_value, "invalid target URL", scrub_secrets(why, url));
	}
	UrlOptions set;
	for (PQconninfoOption *o = options.get(); o->keyword; o++)
		if (o->val && o->val[0])
			set[o->keyword] = o->val;
	return set;
}

TargetUrl check_target_url(const std::string &url, const UrlPolicy &policy,
						   const HostResolver &resolve)
{
	if (scheme_length(url) == 0)
		refuse(sqlstate::invalid_parameter_value,
			   "target URL must start with postgres:// or postgresql://",
			   "Connection strings of the form key=value are not accepted.",
			   "Write it as postgresql://host:port/dbname, with user:password@ before the host.");

	UrlOptions set = parse_url_options(url);
	TargetUrl target;
	target.options = set;
	target.masked = mask_url(url);
	target.hosts = split_comma_list(set["host"]);
	std::vector<std::string> hostaddrs =
		split_comma_list(set["hostaddr"]);
	if (target.hosts.empty() && hostaddrs.empty())
		refuse(sqlstate::invalid_parameter_value, "target URL must name a host",
			   "Without a host, libpq would use a Unix-domain socket of this server.");
	for (const auto &h : target.hosts) {
		if (!h.empty() && (h[0] == '/' || h[0] == '@'))
			refuse(sqlstate::invalid_parameter_value,
				   "target URL must not name a Unix-domain socket",
				   "\"" + h + "\" is a socket directory of this server.",
				   "Targets are reached over TCP: give a host name or address.");
	}
	if (!set.count("dbname"))
		refuse(sqlstate::invalid_parameter_value, "target URL must name a database",
			   {}, "Write it as postgresql://host:port/dbname, with user:password@ before the host.");
	target.dbname = set["dbname"];
	target.user = set.count("user") ? set["user"] : "";
	// libpq checks these only when it connects; a DBA wants to hear now.
	for (const auto &port : split_comma_list(set["port"])) {
		char *end = nullptr;
		long n = port.empty() ? 5432 : std::strtol(port.c_str(), &end, 10);
		if ((!port.empty() && *end != '\0') || n < 1 || n > 65535)
			refuse(sqlstate::invalid_parameter_value, "invalid target URL",
				   "invalid port number: " + shown(port, url));
	}
	if (set.count("sslmode")) {
		const std::string &m = set["sslmode"];
		if (m != "disable" && m != "allow" && m != "prefer" && m != "require" &&
			m != "verify-ca" && m != "verify-full")
			refuse(sqlstate::invalid_parameter_value, "invalid target URL",
				   "invalid sslmode value: " + shown(m, url));
	}
	target.has_password = set.count("password") > 0;

	if (!policy.superuser) {
		if (!target.has_password)
			refuse(sqlstate::insufficient_privilege, "target URL must include a password",
				   "Without one, the connection would use credentials of the server that runs sunsync.",
				   "Only superusers may create configurations without a password.");
		for (const char *o : server_file_options)
			if (set.count(o))
				refuse(sqlstate::insufficient_privilege,
					   std::string("target URL option \"") + o + "\" is not allowed",
					   "It makes the server read one of its own files.",
					   "Only superusers may use passfile, service, sslcert, sslkey, "
					   "sslrootcert, sslcrl and sslcrldir.");
	}
	if (policy.require_ssl) {
		std::string mode = set.count("sslmode") ? set["sslmode"] : "prefer";
		if (mode != "require" && mode != "verify-ca" && mode != "verify-full")
			refuse(sqlstate::invalid_parameter_value,
				   "target URL must use sslmode=require, verify-ca or verify-full",
				   "sslmode is \"" + mode + "\" and sunsync.require_ssl is on.",
				   "Add ?sslmode=verify-full to the URL.");
	}

	// Check every address libpq could connect to: a hostaddr where given,
	// otherwise every address the host name resolves to.
	std::vector<std::string> ports = split_comma_list(set["port"]);
	size_t n = std::max(target.hosts.size(), hostaddrs.size());
	for (size_t i = 0; i < n; i++) {
		std::string addr = i < hostaddrs.size() ? hostaddrs[i] : "";
		std::string host = i < target.hosts.size() ? target.hosts[i] : "";
		std::string port = ports.size() == 1 ? ports[0] : i < ports.size() ? ports[i] : "";
		std::vector<std::string> addresses;
		if (!addr.empty())
			addresses = {addr};
		else if (host.empty())
			refuse(sqlstate::invalid_parameter_value, "target URL has an empty host",
				   "An empty host means a Unix-domain socket of this server.");
		else if (classify_address(host) != AddressClass::Invalid)
			addresses = {host};
		else
			addresses = resolve(host);
		if (addresses.empty())
			refuse(sqlstate::invalid_parameter_value,
				   "could not resolve target host \"" + host + "\"", "It has no address.");
		for (const auto &ip : addresses) {
			check_address(addr.empty() ? host : ip, ip, policy);
			target.endpoints.push_back({host, ip, port});
		}
	}
	return target;
}

} // namespace sunsync
