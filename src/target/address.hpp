// Which kind of address a target host is: only public unicast addresses are
// allowed unless sunsync.allow_private_targets is on.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace sunsync {

enum class AddressClass {
	Public,
	Loopback,
	Private,
	LinkLocal,
	Unspecified,
	Multicast,
	Reserved,
	Invalid, // not an IP address literal
};

AddressClass classify_address(const std::string &ip);
// "a loopback address", "a private address", ...
const char *address_class_phrase(AddressClass c);

// Called between polls of a name lookup (about every 10 ms); it waits, and
// throws to abandon the lookup (a cancel, SIGTERM).  Without one, the
// caller's thread sleeps.
using ResolveWait = std::function<void()>;

// Every address a host name resolves to (numeric strings, both families).
// The lookup runs asynchronously (getaddrinfo_a) so that the caller can
// abandon it; timeout_ms > 0 bounds it.  Throws sunsync::Error when the name
// does not resolve in time.
std::vector<std::string> resolve_host(const std::string &host, const ResolveWait &wait = {},
									  int timeout_ms = 0);

} // namespace sunsync
