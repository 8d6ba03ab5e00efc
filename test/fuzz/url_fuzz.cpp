// libFuzzer target: the target URL rules on any text a user may give as
// target_url (libpq's parser, then sunsync's checks), and the masking and
// scrubbing every message about a URL goes through.  The first byte picks
// the policy; host names resolve, without the network, to addresses of
// every class (or fail), chosen by their spelling.
#include "common/error.hpp"
#include "target/url.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

using namespace sunsync;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	UrlPolicy policy;
	policy.superuser = data[0] & 1;
	policy.allow_private_targets = data[0] & 2;
	policy.require_ssl = data[0] & 4;
	std::string url(reinterpret_cast<const char *>(data + 1), size - 1);
	HostResolver resolve = [](const std::string &host) -> std::vector<std::string> {
		static const char *const addresses[] = {"127.0.0.1", "10.1.2.3",    "8.8.8.8", "::1",
												"2001:4860::8888", "169.254.1.1", "fe80::1", "224.0.0.1"};
		if (host.empty() || host.size() % 5 == 0)
			throw Error("08001", "could not resolve \"" + host + "\"");
		return {addresses[host.size() % 8], addresses[static_cast<unsigned char>(host[0]) % 8]};
	};
	(void) mask_url(url);
	(void) scrub_secrets(url + " " + url, url);
	try {
		(void) split_comma_list(url);
		(void) parse_url_options(url);
	} catch (const Error &) {
	}
	try {
		TargetUrl t = check_target_url(url, policy, resolve);
		(void) scrub_secrets(t.masked, url);
	} catch (const Error &) {
		// a URL refused: what the rules are for
	}
	return 0;
}
