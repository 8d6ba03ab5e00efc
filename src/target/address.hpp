// Which kind of address a target host is: only public unicast addresses are
// allowed unless sunsync.allow_private_targets is on.
#pragma once

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

// Every address a host name resolves to (numeric strings, both families).
// Throws sunsync::Error when the name does not resolve.
std::vector<std::string> resolve_host(const std::string &host);

} // namespace sunsync
